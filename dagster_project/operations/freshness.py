"""Is each feed's latest month in? A month is overdue once the due day of the next month has passed."""

from datetime import date, datetime, timezone

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from dagster_project.assets.raw import raw_asset_key
from dagster_project.contract import FEEDS, Feed
from dagster_project.ingest.delivery import delivered_months
from dagster_project.months import month_key
from dagster_project.months import add_months
from dagster_project.runtime import run_settings


def expected_month(today: date, due_day: int) -> date:
    """The latest month that should have been delivered by `today`."""
    this_month = today.replace(day=1)
    return add_months(this_month, -1 if today.day > due_day else -2)


def overdue_months(delivered: list[date], today: date, due_day: int) -> list[date]:
    """Months after the latest delivery up to the expected one (empty when on time)."""
    expected = expected_month(today, due_day)
    latest = max(delivered) if delivered else None
    if latest is not None and latest >= expected:
        return []
    start = add_months(latest, 1) if latest else expected
    out, m = [], start
    while m <= expected:
        out.append(m)
        m = add_months(m, 1)
    return out


def build_freshness_check(feed: Feed) -> AssetChecksDefinition:
    @asset_check(
        asset=raw_asset_key(feed),
        name="delivery_freshness",
        blocking=False,
        description=f"The latest {feed.name} month has been delivered: a month is overdue once day "
        "CUSTOMS_KPI_DUE_DAY (default 10) of the following month has passed.",
    )
    def _freshness(context: AssetCheckExecutionContext) -> AssetCheckResult:
        settings = run_settings()
        today = datetime.now(timezone.utc).astimezone(settings.zone).date()
        delivered = delivered_months(settings.raw_dir, feed, settings.first_month)
        overdue = overdue_months(delivered, today, settings.due_day)
        return AssetCheckResult(
            passed=not overdue,
            severity=AssetCheckSeverity.WARN,
            description=(
                f"{len(overdue)} month(s) overdue: {', '.join(month_key(m) for m in overdue[:12])}"
                if overdue
                else "up to date"
            ),
            metadata={
                "latest_delivered": month_key(max(delivered)) if delivered else "none",
                "expected_by_now": month_key(expected_month(today, settings.due_day)),
                "overdue_months": MetadataValue.json([month_key(m) for m in overdue]),
            },
        )

    return _freshness


def freshness_checks() -> list[AssetChecksDefinition]:
    return [build_freshness_check(f) for f in FEEDS]
