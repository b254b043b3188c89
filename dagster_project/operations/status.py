"""`customs-kpi status`: what is loaded, published, failing or overdue, per feed and month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

from dagster_project.contract import FEEDS
from dagster_project.months import month_key, parse_month
from dagster_project.ingest.delivery import EMPTY_FOLDER
from dagster_project.operations.deliveries import digest_of, scan_deliveries
from dagster_project.operations.freshness import overdue_months
from dagster_project.quality.ledger import failed_expectations
from dagster_project.settings import Settings

# states that make `status` exit non-zero
PROBLEMS = ("failed", "withheld", "changed on disk", "not loaded", "not published")


@dataclass
class FeedMonth:
    feed: str
    month: date
    state: str  # published ... see PROBLEMS, plus "no delivery", "empty folder", "overdue"
    rows: int | None = None
    rejected: int | None = None
    detail: str = ""


def _query(path, sql: str, params=None) -> list[tuple]:
    if not path.exists():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()
    except (
        duckdb.CatalogException,
        duckdb.BinderException,
    ):  # no such table, or column (an older file)
        return []


def collect_status(
    settings: Settings, today: date | None = None, warnings: list[str] | None = None
) -> list[FeedMonth]:
    """State per feed and month; folders under raw/ that are not read are appended to `warnings`."""
    today = today or datetime.now(timezone.utc).astimezone(settings.zone).date()
    scan = scan_deliveries(settings.raw_dir, settings.first_month)
    if warnings is not None:
        warnings.extend(scan.warnings)
    on_disk = scan.delivered()
    audit_sql = (
        "SELECT feed, strftime(month, '%Y-%m'), list(file), list(file_sha256), sum(rows_accepted), "
        "sum(rows_rejected), string_agg(DISTINCT quality_result, ','), any_value(quality_note) FROM {t} GROUP BY ALL"
    )
    loaded = {
        (r[0], r[1]): r for r in _query(settings.work_db, audit_sql.format(t="raw.load_audit"))
    }
    # Published means: the published KPIs are built from this very delivery. A ledger-only publish
    # (the gate held a month back) lists newer loads too, with in_published_kpis false.
    published = {
        (r[0], r[1]): r
        for r in _query(
            settings.published_db, audit_sql.format(t="marts.load_audit WHERE in_published_kpis")
        )
    }
    failures = {
        (r[0], r[1]): r[2]
        for r in _query(
            settings.work_db,
            "SELECT feed, strftime(month, '%Y-%m'), file || ': ' || fault FROM meta.load_failures",
        )
    }

    def digest(row) -> str:
        return digest_of([(row[0], f, s) for f, s in zip(row[2], row[3])])

    out: list[FeedMonth] = []
    months = sorted({m for _, m in scan.deliveries} | {m for _, m in loaded})
    for feed in FEEDS:
        delivered = []
        for month in months:
            key = (feed.name, month)
            row = loaded.get(key)
            fm = FeedMonth(feed.name, parse_month(month), "no delivery")
            if row:
                fm.rows, fm.rejected = row[4], row[5]
            if key in on_disk:
                delivered.append(parse_month(month))
            delivery = scan.deliveries.get(key)
            if key in failures:
                fm.state, fm.detail = "failed", failures[key]
            elif delivery and delivery.state == EMPTY_FOLDER:
                fm.state = "empty folder"
                fm.detail = "no data file: no delivery" + (
                    "; the loaded month is kept" if row else ""
                )
            elif key in on_disk and not row:
                fm.state = "not loaded"
            elif row and key in on_disk and digest(row) != digest_of(on_disk[key]):
                fm.state = "changed on disk"
            elif row and "failed" in (row[6] or ""):
                fm.state = "withheld"  # its KPI values are published as null, with the reason
                failed = ", ".join(failed_expectations(row[7] or "")) or "its quality suite"
                fm.detail = f"failed {failed}: the KPI values that read it are withheld (kpi_monthly.quality)"
            elif row and published.get(key) and digest(published[key]) == digest(row):
                fm.state = "published"
                if "overridden" in (row[6] or ""):
                    fm.detail = "override: " + (row[7] or "").split(" | ")[0].removeprefix(
                        "overridden "
                    )
            elif row:
                fm.state = "not published"
            if delivery and delivery.notes():
                fm.detail = "; ".join(x for x in (fm.detail, delivery.notes()) if x)
            if fm.state != "no delivery" or row:
                out.append(fm)
        overdue = overdue_months(delivered, today, settings.due_day)
        if overdue:
            span = (
                month_key(overdue[0])
                if len(overdue) == 1
                else f"{month_key(overdue[0])} .. {month_key(overdue[-1])}"
            )
            out.append(
                FeedMonth(
                    feed.name,
                    overdue[-1],
                    "overdue",
                    detail=f"{len(overdue)} month(s) not delivered: {span} (due by day {settings.due_day} of the next month)",
                )
            )
    return out


def render_status(items: list[FeedMonth], warnings: list[str] | None = None) -> str:
    header = f"{'feed':<13} {'month':<8} {'state':<16} {'rows':>9} {'rejected':>8}  detail"
    lines = [header, "-" * len(header)]
    for i in sorted(items, key=lambda x: (x.feed, x.month)):
        rows = "" if i.rows is None else str(i.rows)
        rej = "" if i.rejected is None else str(i.rejected)
        lines.append(
            f"{i.feed:<13} {month_key(i.month):<8} {i.state:<16} {rows:>9} {rej:>8}  {i.detail}"
        )
    counts: dict[str, int] = {}
    for i in items:
        counts[i.state] = counts.get(i.state, 0) + 1
    lines.append("")
    lines.append("  ".join(f"{state}: {n}" for state, n in sorted(counts.items())))
    lines += [f"warning: {w}" for w in warnings or []]
    return "\n".join(lines)
