"""The explanation page of one KPI value: definition, formula, the value recomputed from its
evidence records, the records contributing most, and the SQL that lists all of them.

Static HTML like the rest of the report (no script, everything escaped; templates/explain.html.j2),
at `report/explain/<YYYY-MM>/<kpi_id>.html`, linked from the month page's scorecard row.
"""

from __future__ import annotations

from datetime import date, datetime

from dagster_project.explain.evidence import RECORD_COLUMNS, Explanation
from dagster_project.report.templating import render_page

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


def fact_id(label: str) -> str:
    """The id of a row of the facts table: `fact-<this>`."""
    return label.lower().replace(" ", "-").replace("%", "pct")


def explanation_page(e: Explanation, generated_at: datetime) -> str:
    p, s = e.published, e.summary
    facts = [
        ("Published value", exact(p["value"])),
        ("n", exact(p["n"])),
        ("Year to date", exact(p["ytd_value"])),
        ("Baseline", exact(p["baseline"])),
        ("Target", exact(p["target"])),
        ("Status", p["status"]),  # drawn as the scorecard's status badge
        ("Progress %", exact(p["progress_pct"])),
        ("Quality", e.quality),
        ("Recomputed value", exact(e.value)),
        ("Recomputed n", exact(e.n)),
        ("Records", exact(s.records)),
        ("In the numerator", exact(s.numerator)),
        ("In the denominator", exact(s.denominator)),
    ]
    return render_page(
        "explain.html.j2",
        e=e,
        generated_at=generated_at,
        how="exactly"
        if e.spec.aggregation in ("count", "distinct_count", "manual")
        else "within 1e-9 relative",
        facts=[(fact_id(label), label, value) for label, value in facts],
        columns=RECORD_COLUMNS,
        records=[[exact(v) for v in r] for r in e.top],
    )
