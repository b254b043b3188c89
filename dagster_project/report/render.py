"""The scorecard report: one self-contained HTML page per month, and an index.

Pages carry their own CSS and inline SVG charts; a Content-Security-Policy
forbids anything else (no scripts, no fetches), so a page opens the same from
a file share, an e-mail attachment or an offline laptop.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from html import escape
from pathlib import Path

from dagster_project.publish.swap import build_dir, swap_dir, sweep
from dagster_project.report import svg
from dagster_project.report.explain_page import explain_href, explanation_page
from dagster_project.report.data import CATEGORIES, KpiRow, ReportData, load_report_data, status_counts

AEO_COLOUR, NON_AEO_COLOUR = "#0969da", "#d4a72c"
LANE_COLOURS = {"GREEN": "#2da44e", "YELLOW": "#d4a72c", "RED": "#cf222e", "BLUE": "#54aeff", None: "#8c959f"}
LEVEL_COLOURS = {"goal": "#1a7f37", "basic": "#9a6700", "minimum": "#cf222e"}
REGIONS = (
    ("aeo_trade_share_central_asia", "Central Asia"),
    ("aeo_trade_share_eu_us", "EU and US"),
    ("aeo_trade_share_east_asia", "East Asia"),
    ("aeo_trade_share_other", "other"),
)
SLA_KPIS = ("sla_timely_processing_rate", "edoc_processing_seconds_export", "system_failures")
COUNT_UNITS = {"applications", "operators", "declarations", "claims", "cases", "pledges", "orders",
               "deployments", "rulings"}
# status -> (label, css class)
STATUS = {
    "met": ("met", "good"),
    "goal": ("goal", "good"),
    "basic": ("basic", "fair"),
    "minimum": ("minimum", "warn"),
    "not_met": ("not met", "bad"),
    "below_minimum": ("below minimum", "bad"),
    None: ("–", "none"),
}
TREND_MONTHS = 12

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.meta, .note { color: #57606a; font-size: 12px; }
nav { display: flex; gap: 16px; font-size: 13px; } nav a { color: #0969da; text-decoration: none; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.chip { border-radius: 12px; padding: 2px 10px; font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #d8dee4; text-align: right; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.name, th.name { text-align: left; } td.name small { color: #57606a; display: block; }
tr.group td { background: #eaeef2; font-weight: 600; text-align: left; }
.status { display: inline-block; min-width: 84px; text-align: center; border-radius: 10px; padding: 1px 8px; }
.good { background: #dafbe1; color: #116329; } .fair { background: #eef8d0; color: #4b6b00; }
.warn { background: #fff8c5; color: #7d4e00; } .bad { background: #ffebe9; color: #a40e26; }
.none { background: #f6f8fa; color: #57606a; }
span.withheld { background: repeating-linear-gradient(135deg, #fff1e5 0 6px, #ffe2cc 6px 12px); color: #953800;
                border: 1px dashed #bc4c00; cursor: help; }
tr.withheld td { background: #fff8f2; }
.override { color: #8250df; font-size: 11px; cursor: help; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
figure.chart { margin: 0; border: 1px solid #d8dee4; border-radius: 6px; padding: 12px; background: #fff; }
figcaption { font-weight: 600; margin-bottom: 6px; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# ---- formatting -------------------------------------------------------------

def month_label(m: date) -> str:
    return f"{m:%B %Y}"


def month_key(m: date) -> str:
    return f"{m:%Y-%m}"


def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    if unit in COUNT_UNITS:
        return f"{v:,.0f}"
    if "currency" in unit:
        return f"{v:,.0f}"
    if unit in ("hours", "seconds"):
        return f"{v:,.2f}"
    return f"{v:,.1f}"


def status_badge(status: str | None) -> str:
    label, css = STATUS.get(status, (status or "–", "none"))
    return f'<span class="status {css}">{escape(label)}</span>'


def target_cell(row: KpiRow, levels: dict[str, tuple[float, float, float]]) -> str:
    if row.kpi_id in levels:
        goal, basic, minimum = levels[row.kpi_id]
        return f"goal {svg.fmt(goal)} · basic {svg.fmt(basic)} · min {svg.fmt(minimum)}"
    return fmt_value(row.target, row.unit)


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def figure(chart_id: str, caption: str, chart: str, note: str = "") -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<figure class="chart" id="chart-{chart_id}"><figcaption>{escape(caption)}</figcaption>{chart}{note_html}</figure>'


# ---- the month page ------------------------------------------------------------

def scorecard_table(rows: list[KpiRow], levels) -> str:
    head = (
        "<tr><th class=name>Indicator</th><th>Unit</th><th>Baseline</th><th>Target</th><th>Actual</th>"
        "<th>YTD</th><th>Progress</th><th>Status</th><th>n</th></tr>"
    )
    out, group = [head], None
    for r in rows:
        if r.kpi_group != group:
            group = r.kpi_group
            out.append(f'<tr class="group"><td colspan="9">{escape(group)}</td></tr>')
        progress = "–" if r.progress_pct is None else f"{r.progress_pct:,.0f} %"
        manual = " · manual" if r.source == "manual" else ""
        basis = " · judged on YTD" if r.basis == "ytd" else ""
        name = f'<a href="{escape(explain_href(r.month, r.kpi_id))}">{escape(r.indicator)}</a>'
        actual = f"<b>{fmt_value(r.value, r.unit)}</b>"
        status = status_badge(r.status)
        row_class = ""
        if r.withheld:  # the quality gate withheld the value: shown as such, the reason on hover
            actual = f'<span class="status withheld" title="{escape(r.quality)}">withheld</span>'
            status = f'<span class="status withheld" title="{escape(r.quality)}">withheld</span>'
            row_class = ' class="withheld"'
        elif r.quality.startswith("override"):
            actual += f' <span class="override" title="{escape(r.quality)}">override</span>'
        out.append(
            f'<tr id="kpi-{escape(r.kpi_id)}"{row_class}><td class="name">{name}'
            f"<small>{escape(r.kpi_id)}{manual}{basis}</small></td>"
            f"<td>{escape(r.unit)}</td><td>{fmt_value(r.baseline, r.unit)}</td>"
            f"<td>{target_cell(r, levels)}</td><td>{actual}</td>"
            f"<td>{fmt_value(r.ytd_value, r.unit) if r.basis == 'ytd' else ''}</td><td>{progress}</td>"
            f"<td>{status}</td><td>{'' if r.n is None else f'{r.n:,}'}</td></tr>"
        )
    return f'<table class="scorecard">{"".join(out)}</table>'


def chips(rows: list[KpiRow]) -> str:
    counts = status_counts(rows)
    order = ["met", "goal", "basic", "minimum", "not_met", "below_minimum", "withheld", "none"]
    parts = []
    for s in order:
        if counts.get(s):
            label, css = ("withheld", "withheld") if s == "withheld" else STATUS.get(None if s == "none" else s)
            label = "no status" if s == "none" else label
            parts.append(f'<span class="chip {css}">{counts[s]} {escape(label)}</span>')
    return f'<div class="chips">{"".join(parts)}</div>'


def window(data: ReportData, month: date) -> list[date]:
    upto = [m for m in data.months if m <= month]
    return upto[-TREND_MONTHS:]


def release_time_chart(data: ReportData, months: list[date]) -> str:
    aeo = {m: data.value("time_to_import_aeo", m) for m in months}
    non = {m: data.value("time_to_import_non_aeo", m) for m in months}
    return svg.grouped_bars(
        [f"{m:%b %y}" for m in months],
        [("AEO", AEO_COLOUR, [aeo[m] for m in months]), ("non-AEO", NON_AEO_COLOUR, [non[m] for m in months])],
        title="Mean hours from lodgement to release of imports, AEO and non-AEO, by month",
        unit="hours",
    )


def lane_mix_chart(data: ReportData, month: date) -> str:
    lanes = list(LANE_COLOURS)
    rows = []
    for label, keys in (("AEO", (True,)), ("non-AEO", (False,)), ("all", (True, False))):
        counts = [sum(data.lanes.get((month, k), {}).get(lane, 0) for k in keys) for lane in lanes]
        rows.append((label, counts))
    return svg.stacked_hbars(
        rows,
        [(lane or "no lane", LANE_COLOURS[lane]) for lane in lanes],
        title=f"Final selectivity lane of declarations lodged in {month_label(month)}",
    )


def trade_share_chart(data: ReportData, month: date) -> str:
    return svg.hbars(
        [(label, data.value(kpi, month)) for kpi, label in REGIONS],
        title=f"AEO share of trade value by partner region, {month_label(month)}",
        unit="%",
    )


def paperless_chart(data: ReportData, month: date) -> str:
    names = {1: "1 postal", 2: "2 low, free", 3: "3 low, dutiable", 4: "4 high value"}
    rows = []
    for c in CATEGORIES:
        paperless, total = data.paperless.get((month, c), (0, 0))
        rows.append((names[c], [paperless, total - paperless]))
    return svg.stacked_hbars(
        rows,
        [("paperless", "#1a7f37"), ("on paper", "#afb8c1")],
        title=f"Paperless and paper declarations by category, {month_label(month)}",
    )


def sla_charts(data: ReportData, month: date) -> list[str]:
    months = window(data, month)
    out = []
    units = {r.kpi_id: (r.indicator, r.unit) for r in data.rows}
    for kpi in SLA_KPIS:
        if kpi not in data.levels or kpi not in units:
            continue
        goal, basic, minimum = data.levels[kpi]
        indicator, unit = units[kpi]
        values = [data.value(kpi, m) for m in months]
        chart = svg.level_lines(
            [f"{m:%b %y}" for m in months],
            values,
            [("goal", goal, LEVEL_COLOURS["goal"]), ("basic", basic, LEVEL_COLOURS["basic"]),
             ("minimum", minimum, LEVEL_COLOURS["minimum"])],
            title=f"{indicator} by month against its goal, basic and minimum levels",
            unit=unit,
            highlight=months.index(month) if month in months else None,
        )
        out.append(figure(f"sla-{kpi}", f"{indicator} against its levels", chart))
    return out


def month_page(data: ReportData, month: date, generated_at: datetime) -> str:
    rows = data.month_rows(month)
    idx = data.months.index(month)
    prev_link = f'<a href="{month_key(data.months[idx - 1])}.html">← {month_label(data.months[idx - 1])}</a>' if idx else ""
    next_link = (
        f'<a href="{month_key(data.months[idx + 1])}.html">{month_label(data.months[idx + 1])} →</a>'
        if idx + 1 < len(data.months) else ""
    )
    trend = window(data, month)
    charts = [
        figure("release-time", "Release time of imports: AEO vs non-AEO", release_time_chart(data, trend),
               "Mean hours from lodgement to release over released imports (KPIs time_to_import_aeo and "
               "time_to_import_non_aeo), last 12 months."),
        figure("lane-mix", "Lane mix", lane_mix_chart(data, month),
               "Share of declarations by final lane (after re-channelling)."),
        figure("trade-share", "AEO share of trade value by region", trade_share_chart(data, month),
               "Percent of the month's import and export customs value lodged by AEOs, by partner region; "
               "the four add up to the AEO share of all trade."),
        figure("paperless", "Paperless declarations by category", paperless_chart(data, month)),
        *sla_charts(data, month),
    ]
    loaded = f" · data loaded {data.loaded_at:%Y-%m-%d %H:%M} UTC" if data.loaded_at else ""
    body = (
        f'<nav><a href="index.html">All months</a>{prev_link}{next_link}'
        '<a href="#scorecard">Scorecard</a><a href="#charts">Charts</a></nav>'
        f"<h1>Customs performance scorecard — {month_label(month)}</h1>"
        f'<p class="meta">Generated {generated_at:%Y-%m-%d %H:%M} UTC from marts.kpi_monthly{loaded}. '
        "Baseline and target are those set for the month's year; YTD sums the months from January; "
        "SLA indicators are graded against their goal, basic and minimum levels.</p>"
        f"{chips(rows)}"
        f'<h2 id="scorecard">Scorecard</h2>{scorecard_table(rows, data.levels)}'
        f'<h2 id="charts">Charts</h2><div class="charts">{"".join(charts)}</div>'
    )
    return page(f"Scorecard {month_key(month)}", body)


# ---- the index ---------------------------------------------------------------

def index_page(data: ReportData, generated_at: datetime) -> str:
    rows = []
    for m in reversed(data.months):
        counts = status_counts(data.month_rows(m))
        good = counts.get("met", 0) + counts.get("goal", 0)
        bad = counts.get("not_met", 0) + counts.get("below_minimum", 0)
        mid = counts.get("basic", 0) + counts.get("minimum", 0)
        rows.append(
            f'<tr><td class="name"><a href="{month_key(m)}.html">{month_label(m)}</a></td>'
            f'<td><span class="status good">{good}</span></td><td><span class="status warn">{mid}</span></td>'
            f'<td><span class="status bad">{bad}</span></td>'
            f"<td>{fmt_value(data.value('aeo_trade_share_total', m), '%')}</td>"
            f"<td>{fmt_value(data.value('time_to_import_aeo', m), 'hours')}</td>"
            f"<td>{fmt_value(data.value('time_to_import_non_aeo', m), 'hours')}</td>"
            f"<td>{fmt_value(data.value('paperless_share', m), '%')}</td></tr>"
        )
    months = data.months[-24:]
    charts = []
    if months:
        charts.append(figure("release-time", "Release time of imports: AEO vs non-AEO",
                             release_time_chart(data, months), "Mean hours from lodgement to release."))
        charts.append(figure(
            "paperless-share", "Paperless share of declarations",
            svg.grouped_bars([f"{m:%b %y}" for m in months],
                             [("paperless share", "#1a7f37", [data.value("paperless_share", m) for m in months])],
                             title="Paperless declarations as a percentage of all declarations, by month", unit="%"),
        ))
    span = f"{month_label(data.months[0])} to {month_label(data.months[-1])}" if data.months else "no months"
    body = (
        f"<h1>Customs performance scorecard</h1>"
        f'<p class="meta">{span} · generated {generated_at:%Y-%m-%d %H:%M} UTC from the published warehouse.</p>'
        "<table><tr><th class=name>Month</th><th>met / goal</th><th>basic / minimum</th>"
        "<th>not met / below min.</th><th>AEO trade share %</th><th>AEO import hours</th>"
        "<th>non-AEO import hours</th><th>paperless %</th></tr>" + "".join(rows) + "</table>"
        f'<h2>Trends</h2><div class="charts">{"".join(charts)}</div>'
    )
    return page("Customs performance scorecard", body)


def scorecard_markdown(data: ReportData, month: date) -> str:
    """The month's scorecard as a Markdown table (Dagster asset metadata)."""
    lines = [
        f"**{month_label(month)}**",
        "",
        "| KPI | Actual | YTD | Baseline | Target | Status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in data.month_rows(month):
        target = target_cell(r, data.levels)
        ytd = fmt_value(r.ytd_value, r.unit) if r.basis == "ytd" else ""
        status = STATUS.get(r.status, (r.status or "–", ""))[0]
        lines.append(
            f"| {r.indicator} ({r.unit}) | {fmt_value(r.value, r.unit)} | {ytd} | "
            f"{fmt_value(r.baseline, r.unit)} | {target} | {status} |"
        )
    return "\n".join(lines)


# ---- writing ------------------------------------------------------------------

def write_explanations(published_db: Path, build: Path, generated_at: datetime) -> int:
    """One explanation page per KPI and month (explain/<YYYY-MM>/<kpi_id>.html)."""
    from dagster_project.explain.evidence import explain_all
    from dagster_project.publish.publisher import open_published
    from dagster_project.report.explain_page import TOP_RECORDS

    with open_published(published_db) as con:
        explanations = explain_all(con, TOP_RECORDS)
    for (kpi_id, month), e in explanations.items():
        f = build / explain_href(month, kpi_id)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(explanation_page(e, generated_at, page, status_badge), encoding="utf-8")
    return len(explanations)


def write_report(published_db: Path, out_dir: Path, now: datetime | None = None) -> tuple[ReportData, list[Path]]:
    """Render index.html and one YYYY-MM.html per month into out_dir (replaced as a whole)."""
    generated_at = now or datetime.now(timezone.utc)
    data = load_report_data(published_db)
    sweep(out_dir)
    build = build_dir(out_dir)
    try:
        files = [build / "index.html"]
        files[0].write_text(index_page(data, generated_at), encoding="utf-8")
        for m in data.months:
            f = build / f"{month_key(m)}.html"
            f.write_text(month_page(data, m, generated_at), encoding="utf-8")
            files.append(f)
        write_explanations(published_db, build, generated_at)
        swap_dir(build, out_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return data, [out_dir / f.name for f in files]
