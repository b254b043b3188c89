"""The explanation page of one KPI value: definition, formula, the value recomputed from its
evidence records, the records contributing most, and the SQL that lists all of them.

Static HTML like the rest of the report (no script, everything escaped), at
`report/explain/<YYYY-MM>/<kpi_id>.html`, linked from the month page's scorecard row.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from dagster_project.explain.evidence import RECORD_COLUMNS, Explanation

EXPLAIN_DIR = "explain"
TOP_RECORDS = 20


def explain_href(month: date, kpi_id: str) -> str:
    """Link from a month page (report/<YYYY-MM>.html) to the explanation page."""
    return f"{EXPLAIN_DIR}/{month:%Y-%m}/{kpi_id}.html"


def exact(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.15g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:,}" if isinstance(v, int) else str(v)


def explanation_page(e: Explanation, generated_at: datetime, page, status_badge) -> str:
    """`page` and `status_badge`: the report's page frame and status badge (report.render)."""
    c, p, s = e.catalog, e.published, e.summary
    month_html = f"../../{e.month:%Y-%m}.html"
    readings = "".join(
        f"<li><b>{number}. {escape(title)}</b> {escape(text)}</li>" for number, title, text in e.spec.readings
    )
    readings_html = (
        f'<h2 id="readings">Readings we chose</h2><ul>{readings}</ul>'
        '<p class="note">From docs/kpis.md, "Readings we chose".</p>' if readings else ""
    )
    if e.quality.startswith("withheld"):
        check = (f'<p id="check" class="status withheld" title="{escape(e.quality)}">Withheld by the quality gate: '
                 f"{escape(e.quality)}. No value is published and no record is listed until the feed-month is "
                 "fixed or an operator overrides it.</p>")
    elif e.matches:
        how = "exactly" if e.spec.aggregation in ("count", "distinct_count", "manual") else "within 1e-9 relative"
        check = f'<p id="check" class="status good">The records give the published value ({how}) and n.</p>'
    else:
        check = ('<p id="check" class="status bad">MISMATCH: the evidence records do not give the published value. '
                 "Do not use this figure until the warehouse is rebuilt.</p>")
    facts = [
        ("Published value", exact(p["value"])),
        ("n", exact(p["n"])),
        ("Year to date", exact(p["ytd_value"])),
        ("Baseline", exact(p["baseline"])),
        ("Target", exact(p["target"])),
        ("Status", status_badge(p["status"])),
        ("Progress %", exact(p["progress_pct"])),
        ("Quality", escape(e.quality)),
        ("Recomputed value", exact(e.value)),
        ("Recomputed n", exact(e.n)),
        ("Records", exact(s.records)),
        ("In the numerator", exact(s.numerator)),
        ("In the denominator", exact(s.denominator)),
    ]
    facts_html = "".join(
        f'<tr id="fact-{escape(label.lower().replace(" ", "-").replace("%", "pct"))}"><td class="name">{escape(label)}</td>'
        f"<td>{value if label == 'Status' else escape(value)}</td></tr>"
        for label, value in facts
    )
    head = "".join(f"<th{' class=name' if i < 2 else ''}>{escape(h)}</th>" for i, h in enumerate(RECORD_COLUMNS))
    rows = "".join(
        "<tr class=\"record\">" + "".join(
            f"<td{' class=name' if i < 2 else ''}>{escape(exact(v))}</td>" for i, v in enumerate(r)
        ) + "</tr>"
        for r in e.top
    )
    records_html = (
        f'<table id="records"><tr>{head}</tr>{rows}</table>' if e.top else '<p id="records">No record.</p>'
    )
    body = (
        f'<nav><a href="{month_html}">← Scorecard {e.month:%B %Y}</a><a href="../../index.html">All months</a></nav>'
        f"<h1>{escape(c['indicator'])} — {e.month:%B %Y}</h1>"
        f'<p class="meta">{escape(e.kpi_id)} · {escape(c["kpi_group"])} · unit {escape(c["unit"])} · '
        f'direction {escape(c["direction"])} · basis {escape(c["basis"])} · source {escape(c["source"])} · '
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC from the published warehouse</p>"
        f'<h2 id="definition">Definition</h2><p>{escape(c["definition"])}</p>'
        f'<h2 id="formula">Formula</h2><p>{escape(e.spec.formula)}</p>'
        f"{readings_html}"
        f'<h2 id="value">The value, recomputed from its records</h2>{check}'
        f'<table id="facts" style="width:auto">{facts_html}</table>'
        f'<h2 id="top">The {len(e.top)} records contributing most</h2>'
        '<p class="note">Numerator first, then the largest measure. Measure: '
        f"{escape(e.spec.measure)}.</p>{records_html}"
        '<h2 id="sql">All the records, in the DuckDB CLI</h2>'
        '<p class="note">Open the published file read-only (duckdb -readonly warehouse.duckdb) and paste:</p>'
        f'<pre id="records-sql">{escape(e.sql)}</pre>'
    )
    return page(f"{e.kpi_id} {e.month:%Y-%m}", body)
