"""The scorecard report: one self-contained HTML page per month, and an index.

Pages carry their own CSS and inline SVG charts; a Content-Security-Policy
forbids anything else (no scripts, no fetches), so a page opens the same from
a file share, an e-mail attachment or an offline laptop. The HTML is in
templates/*.html.j2 (report.templating); this module works out what they show.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from markupsafe import Markup

from dagster_project.publish.swap import build_dir, swap_dir, sweep
from dagster_project.report import svg
from dagster_project.report.explain_page import EXPLAIN_DIR, explain_href, explanation_page
from dagster_project.report.data import (
    CATEGORIES,
    KpiRow,
    ReportData,
    load_report_data,
    status_counts,
)
from dagster_project.months import month_key, month_label, parse_month
from dagster_project.report.templating import render_page, status_label
from dagster_project.settings import Settings

AEO_COLOUR, NON_AEO_COLOUR = "#0969da", "#d4a72c"
LANE_COLOURS = {
    "GREEN": "#2da44e",
    "YELLOW": "#d4a72c",
    "RED": "#cf222e",
    "BLUE": "#54aeff",
    None: "#8c959f",
}
LEVEL_COLOURS = {"goal": "#1a7f37", "basic": "#9a6700", "minimum": "#cf222e"}
REGIONS = (
    ("aeo_trade_share_central_asia", "Central Asia"),
    ("aeo_trade_share_eu_us", "EU and US"),
    ("aeo_trade_share_east_asia", "East Asia"),
    ("aeo_trade_share_other", "other"),
)
SLA_KPIS = ("sla_timely_processing_rate", "edoc_processing_seconds_export", "system_failures")
COUNT_UNITS = {
    "applications",
    "operators",
    "declarations",
    "claims",
    "cases",
    "pledges",
    "orders",
    "deployments",
    "rulings",
}
TREND_MONTHS = 12


# ---- formatting -------------------------------------------------------------


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


def target_cell(row: KpiRow, levels: dict[str, tuple[float, float, float]]) -> str:
    if row.kpi_id in levels:
        goal, basic, minimum = levels[row.kpi_id]
        return f"goal {svg.fmt(goal)} · basic {svg.fmt(basic)} · min {svg.fmt(minimum)}"
    return fmt_value(row.target, row.unit)


@dataclass(frozen=True)
class Figure:
    """A chart with its caption (macros.html.j2); `chart`: inline SVG from report.svg, which escapes its text."""

    chart_id: str
    caption: str
    chart: Markup
    note: str = ""


def figure(chart_id: str, caption: str, chart: str, note: str = "") -> Figure:
    return Figure(chart_id, caption, Markup(chart), note)


# ---- the month page ------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardLine:
    """One row of the scorecard table, its numbers formatted (month.html.j2)."""

    row: KpiRow
    href: str
    notes: str
    baseline: str
    target: str
    actual: str
    override: bool
    ytd: str
    progress: str
    n: str


def scorecard_lines(rows: list[KpiRow], levels) -> list[ScorecardLine]:
    return [
        ScorecardLine(
            row=r,
            href=explain_href(r.month, r.kpi_id),
            notes=(" · manual" if r.source == "manual" else "")
            + (" · judged on YTD" if r.basis == "ytd" else ""),
            baseline=fmt_value(r.baseline, r.unit),
            target=target_cell(r, levels),
            actual=fmt_value(r.value, r.unit),
            override=not r.withheld and r.quality.startswith("override"),
            ytd=fmt_value(r.ytd_value, r.unit) if r.basis == "ytd" else "",
            progress="–" if r.progress_pct is None else f"{r.progress_pct:,.0f} %",
            n="" if r.n is None else f"{r.n:,}",
        )
        for r in rows
    ]


def chips(rows: list[KpiRow]) -> list[tuple[int, str, str]]:
    """(count, label, css class) of each status the month's KPIs have."""
    counts = status_counts(rows)
    order = ["met", "goal", "basic", "minimum", "not_met", "below_minimum", "withheld", "none"]
    out = []
    for s in order:
        if counts.get(s):
            label, css = (
                ("withheld", "withheld")
                if s == "withheld"
                else status_label(None if s == "none" else s)
            )
            out.append((counts[s], "no status" if s == "none" else label, css))
    return out


def window(data: ReportData, month: date) -> list[date]:
    upto = [m for m in data.months if m <= month]
    return upto[-TREND_MONTHS:]


def release_time_chart(data: ReportData, months: list[date]) -> str:
    aeo = {m: data.value("time_to_import_aeo", m) for m in months}
    non = {m: data.value("time_to_import_non_aeo", m) for m in months}
    return svg.grouped_bars(
        [f"{m:%b %y}" for m in months],
        [
            ("AEO", AEO_COLOUR, [aeo[m] for m in months]),
            ("non-AEO", NON_AEO_COLOUR, [non[m] for m in months]),
        ],
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


def sla_charts(data: ReportData, month: date) -> list[Figure]:
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
            [
                ("goal", goal, LEVEL_COLOURS["goal"]),
                ("basic", basic, LEVEL_COLOURS["basic"]),
                ("minimum", minimum, LEVEL_COLOURS["minimum"]),
            ],
            title=f"{indicator} by month against its goal, basic and minimum levels",
            unit=unit,
            highlight=months.index(month) if month in months else None,
        )
        out.append(figure(f"sla-{kpi}", f"{indicator} against its levels", chart))
    return out


def month_page(data: ReportData, month: date, generated_at: datetime) -> str:
    rows = data.month_rows(month)
    idx = data.months.index(month)
    trend = window(data, month)
    charts = [
        figure(
            "release-time",
            "Release time of imports: AEO vs non-AEO",
            release_time_chart(data, trend),
            "Mean hours from lodgement to release over released imports (KPIs time_to_import_aeo and "
            "time_to_import_non_aeo), last 12 months.",
        ),
        figure(
            "lane-mix",
            "Lane mix",
            lane_mix_chart(data, month),
            "Share of declarations by final lane (after re-channelling).",
        ),
        figure(
            "trade-share",
            "AEO share of trade value by region",
            trade_share_chart(data, month),
            "Percent of the month's import and export customs value lodged by AEOs, by partner region; "
            "the four add up to the AEO share of all trade.",
        ),
        figure("paperless", "Paperless declarations by category", paperless_chart(data, month)),
        *sla_charts(data, month),
    ]
    return render_page(
        "month.html.j2",
        month=month,
        prev_month=data.months[idx - 1] if idx else None,
        next_month=data.months[idx + 1] if idx + 1 < len(data.months) else None,
        generated_at=generated_at,
        loaded_at=data.loaded_at,
        chips=chips(rows),
        lines=scorecard_lines(rows, data.levels),
        charts=charts,
    )


# ---- the index ---------------------------------------------------------------


def index_page(data: ReportData, generated_at: datetime) -> str:
    lines = []
    for m in reversed(data.months):
        counts = status_counts(data.month_rows(m))
        lines.append(
            {
                "month": m,
                "good": counts.get("met", 0) + counts.get("goal", 0),
                "mid": counts.get("basic", 0) + counts.get("minimum", 0),
                "bad": counts.get("not_met", 0) + counts.get("below_minimum", 0),
                "trade_share": fmt_value(data.value("aeo_trade_share_total", m), "%"),
                "aeo_hours": fmt_value(data.value("time_to_import_aeo", m), "hours"),
                "non_aeo_hours": fmt_value(data.value("time_to_import_non_aeo", m), "hours"),
                "paperless": fmt_value(data.value("paperless_share", m), "%"),
            }
        )
    months = data.months[-24:]
    charts = []
    if months:
        charts.append(
            figure(
                "release-time",
                "Release time of imports: AEO vs non-AEO",
                release_time_chart(data, months),
                "Mean hours from lodgement to release.",
            )
        )
        charts.append(
            figure(
                "paperless-share",
                "Paperless share of declarations",
                svg.grouped_bars(
                    [f"{m:%b %y}" for m in months],
                    [
                        (
                            "paperless share",
                            "#1a7f37",
                            [data.value("paperless_share", m) for m in months],
                        )
                    ],
                    title="Paperless declarations as a percentage of all declarations, by month",
                    unit="%",
                ),
            )
        )
    return render_page(
        "index.html.j2",
        first_month=data.months[0] if data.months else None,
        last_month=data.months[-1] if data.months else None,
        generated_at=generated_at,
        months=lines,
        charts=charts,
    )


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
        status = status_label(r.status)[0]
        lines.append(
            f"| {r.indicator} ({r.unit}) | {fmt_value(r.value, r.unit)} | {ytd} | "
            f"{fmt_value(r.baseline, r.unit)} | {target} | {status} |"
        )
    return "\n".join(lines)


# ---- writing ------------------------------------------------------------------


EXPLAIN_STATE = ".explain-state.json"
# What an explanation page is made from besides the published file: the code and the texts.
EXPLAIN_SOURCES = (
    Path(__file__).resolve().parents[1] / "explain",
    Path(__file__).resolve().parent,
)


def explain_code_digest() -> str:
    digest = hashlib.sha256()
    for root in EXPLAIN_SOURCES:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yml", ".j2"):
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def month_digests(con) -> dict[str, str]:
    """Per month of the scorecard, a digest of the small inputs of its explanation pages: the
    code, the catalog, the month's published rows and the feeds delivered for it. (The records
    behind them change only in months a publish rewrites.)"""
    from dagster_project.explain.evidence import CATALOG_COLUMNS, PUBLISHED_COLUMNS

    common = hashlib.sha256(explain_code_digest().encode())
    common.update(
        repr(
            con.execute(
                f"SELECT {', '.join(CATALOG_COLUMNS)} FROM marts.kpi_catalog ORDER BY kpi_id"
            ).fetchall()
        ).encode()
    )
    delivered: dict[str, list[str]] = {}
    for feed, month in con.execute(
        "SELECT DISTINCT feed, month FROM marts.load_audit ORDER BY month, feed"
    ).fetchall():
        delivered.setdefault(month_key(month), []).append(feed)
    by_month: dict = {}
    for row in con.execute(
        f"SELECT month, kpi_id, {', '.join(PUBLISHED_COLUMNS)} FROM marts.kpi_monthly "
        "ORDER BY month, kpi_id"
    ).fetchall():
        key = month_key(row[0])
        if key not in by_month:
            by_month[key] = common.copy()
            by_month[key].update(repr(delivered.get(key, [])).encode())
        by_month[key].update(repr(row[1:]).encode())
    return {k: h.hexdigest() for k, h in by_month.items()}


def months_to_explain(
    marts_dir: Path, out_dir: Path, digests: dict[str, str]
) -> tuple[set[str], str | None]:
    """The months (YYYY-MM) whose explanation pages are made again, and the Parquet version the
    pages will describe. Every month, unless the pages in `out_dir` were made from the version
    the last publish replaced (or from this very version): then only the months that publish
    rewrote, those whose small inputs changed (`month_digests`) and those without pages."""
    from dagster_project.publish.publisher import read_publish_record

    record = read_publish_record(marts_dir)
    version = record["version"] if record else None
    try:
        state = json.loads((out_dir / EXPLAIN_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if not record or not state.get("version"):
        return set(digests), version
    if state["version"] == record["version"]:
        rewritten: set[str] = set()
    elif state["version"] == record["previous"] and record["months"] is not None:
        rewritten = {m[:7] for m in record["months"]}
    else:
        return set(digests), version
    done = state.get("months", {})
    return {
        m
        for m, d in digests.items()
        if m in rewritten or done.get(m) != d or not (out_dir / EXPLAIN_DIR / m).is_dir()
    }, version


def write_explanations(
    published_db: Path,
    out_dir: Path,
    build: Path,
    generated_at: datetime,
    settings: Settings | None = None,
) -> tuple[int, int]:
    """One explanation page per KPI and month (explain/<YYYY-MM>/<kpi_id>.html) into `build`;
    the pages of a month no publish changed since `out_dir`'s were made are carried over from
    it. Returns (pages made, pages carried over)."""
    from dagster_project.explain.evidence import explain_all
    from dagster_project.publish.publisher import open_published
    from dagster_project.report.explain_page import TOP_RECORDS

    with open_published(published_db, settings) as con:
        digests = month_digests(con)
        redo, version = months_to_explain(published_db.parent, out_dir, digests)
        months = [parse_month(m) for m in sorted(redo)]
        explanations = explain_all(con, TOP_RECORDS, months=months)
    for (kpi_id, month), e in explanations.items():
        f = build / explain_href(month, kpi_id)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(explanation_page(e, generated_at), encoding="utf-8")
    carried = 0
    for m in sorted(set(digests) - redo):
        shutil.copytree(out_dir / EXPLAIN_DIR / m, build / EXPLAIN_DIR / m, copy_function=os.link)
        carried += len(list((build / EXPLAIN_DIR / m).iterdir()))
    state = {"version": version, "months": digests}
    (build / EXPLAIN_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
    return len(explanations), carried


def write_report(
    published_db: Path,
    out_dir: Path,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> tuple[ReportData, list[Path]]:
    """Render index.html and one YYYY-MM.html per month into out_dir (replaced as a whole);
    `settings`: the run's, whose memory limit DuckDB then holds to (`open_published`)."""
    generated_at = now or datetime.now(timezone.utc)
    data = load_report_data(published_db, settings)
    sweep(out_dir)
    build = build_dir(out_dir)
    try:
        files = [build / "index.html"]
        files[0].write_text(index_page(data, generated_at), encoding="utf-8")
        for m in data.months:
            f = build / f"{month_key(m)}.html"
            f.write_text(month_page(data, m, generated_at), encoding="utf-8")
            files.append(f)
        write_explanations(published_db, out_dir, build, generated_at, settings)
        swap_dir(build, out_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return data, [out_dir / f.name for f in files]
