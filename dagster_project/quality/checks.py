"""The quality gate as Dagster asset checks: `raw/<feed>:quality`, one per feed.

The check is blocking, so the dbt build waits for it; a failed month does not
stop the build: the check fails with severity WARN and the dbt build that
follows withholds what reads that feed-month (`quality.ledger.gate_states`,
`kpi_monthly.quality`). The check's metadata says which expectations failed for
which month, the observed value against the threshold, up to ten offending rows
each, the warnings (manual KPIs missing), and links the run's Great
Expectations Data Docs.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

import re

from dagster_project.assets.raw import raw_asset_key
from dagster_project.publish.publisher import open_published
from dagster_project.contract import FEEDS, Feed, feed_by_name
from dagster_project.quality.gate import GateOutcome, run_gate
from dagster_project.quality.metrics import reads_feeds
from dagster_project.runtime import context_months
from dagster_project.settings import Settings
from dagster_project.warehouse.resource import WarehouseResource

CHECK_NAME = "quality"
WITHHELD_CHECK_NAME = "published_in_full"
REPORT_KEY = ["scorecard_report"]


def _results_table(outcome: GateOutcome) -> str:
    lines = ["| month | result | note |", "|---|---|---|"]
    for m in outcome.months:
        note = m.note.replace("|", "/")
        lines.append(f"| {m.month:%Y-%m} | {m.result} | {note[:300]} |")
    return "\n".join(lines)


def _metadata(outcome: GateOutcome) -> dict:
    failed = [f.as_json() for m in outcome.months if m.result != "passed" for f in m.findings]
    meta: dict = {
        "months_checked": MetadataValue.json([f"{m.month:%Y-%m}" for m in outcome.months]),
        "expectations": outcome.evaluated,
        "results": MetadataValue.md(_results_table(outcome))
        if outcome.months
        else "no month to check",
        "failed_expectations": MetadataValue.json(failed),
        "warnings": MetadataValue.json(outcome.warnings()),
    }
    if outcome.docs_index is not None:
        meta["data_docs"] = MetadataValue.path(str(outcome.docs_index))
        meta["data_docs_url"] = MetadataValue.url(outcome.docs_index.as_uri())
    if outcome.docs_page:
        meta["data_docs_validation"] = MetadataValue.url(outcome.docs_page)
    return meta


def build_quality_check(feed: Feed) -> AssetChecksDefinition:
    @asset_check(
        asset=raw_asset_key(feed),
        name=CHECK_NAME,
        blocking=True,
        # a check that reads another feed's raw table waits for its load in the same run
        additional_deps=[raw_asset_key(feed_by_name(f)) for f in reads_feeds(feed)],
        description=f"Data-quality suite expectations/{feed.name}.json (Great Expectations) on the months "
        "just loaded: contract rules on accepted rows, row count against the months before, share of "
        "rejected rows, null shares, distributions. A failed month is withheld: the KPI values that read "
        "it are published as null with the reason in kpi_monthly.quality until the data is fixed or an "
        "operator overrides it (customs-kpi override); everything else is published.",
        pool="warehouse_db",
    )
    def _quality(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        settings = warehouse.settings()
        months = context_months(context)
        span = f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}" if months else "no month of the run"
        context.log.info(
            f"checking {span} (and any month not yet passed) against expectations/{feed.name}.json"
        )
        outcome = run_gate(settings, feed, months, run_id=context.run.run_id)
        for m in outcome.months:
            if m.result != "passed":
                context.log.warning(f"{feed.name} {m.month:%Y-%m}: {m.result}: {m.note}")
        for warning in outcome.warnings():
            context.log.warning(warning)
        checked = len(outcome.months)
        description = (
            "\n".join(f"withheld: {line}" for line in outcome.messages())
            if not outcome.passed
            else f"{checked} month(s) checked against {outcome.evaluated} expectations: "
            + ", ".join(f"{m.month:%Y-%m} {m.result}" for m in outcome.months)
        )
        if outcome.warnings():
            description += "\n" + "\n".join(f"warning: {w}" for w in outcome.warnings())
        return AssetCheckResult(
            passed=outcome.passed,
            severity=AssetCheckSeverity.WARN,  # withheld, not blocking: the build runs and publishes the rest
            description=description,
            metadata=_metadata(outcome),
        )

    return _quality


def quality_checks() -> list[AssetChecksDefinition]:
    return [*(build_quality_check(f) for f in FEEDS), build_withheld_check()]


_WITHHELD_NOTE = re.compile(r"withheld: (\S+) (\d{4}-\d{2}) failed")


def withheld_lines(published_db, settings: Settings | None = None) -> list[str]:
    """One line per withheld feed-month of the published warehouse: what failed (observed against
    expected, from load_audit) and the KPI values of the scorecard it withheld."""
    if not published_db.exists():
        return []
    with open_published(published_db, settings) as con:
        failed = con.execute(
            "SELECT feed, strftime(month, '%Y-%m'), any_value(quality_note) FROM marts.load_audit "
            "WHERE quality_result = 'failed' GROUP BY ALL ORDER BY 2, 1"
        ).fetchall()
        rows = con.execute(
            "SELECT kpi_id, strftime(month, '%Y-%m'), quality FROM marts.kpi_monthly "
            "WHERE quality LIKE 'withheld%' ORDER BY month, kpi_id"
        ).fetchall()
    withheld: dict[tuple[str, str], dict[str, list[str]]] = {}
    for kpi_id, month, quality in rows:
        for feed, source_month in _WITHHELD_NOTE.findall(quality):
            withheld.setdefault((feed, source_month), {}).setdefault(month, []).append(kpi_id)
    lines = []
    for feed, month, note in failed:
        months = withheld.get((feed, month), {})
        count = sum(len(k) for k in months.values())
        parts = "; ".join(f"{m}: {', '.join(kpis)}" for m, kpis in sorted(months.items()))
        lines.append(
            f"withheld: {feed} {month}: {note} -> {count} KPI value(s) withheld"
            + (f" ({parts})" if parts else "")
        )
    return lines


def build_withheld_check() -> AssetChecksDefinition:
    """Fails the run (after everything is published) while a KPI value is withheld, so that the
    command exits non-zero and the failure alert names each withheld feed-month."""

    @asset_check(
        asset=REPORT_KEY,
        name=WITHHELD_CHECK_NAME,
        blocking=True,
        description="Every KPI value of the published scorecard was published: fails, naming each withheld "
        "feed-month and the KPI values it withheld (kpi_monthly.quality), while the quality gate withholds one.",
    )
    def _published_in_full(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        settings = warehouse.settings()
        lines = withheld_lines(settings.published_db, settings)
        for line in lines:
            context.log.error(line)
        return AssetCheckResult(
            passed=not lines,
            severity=AssetCheckSeverity.ERROR,
            description="\n".join(lines) or "every KPI value published (no feed-month withheld)",
            metadata={"withheld": MetadataValue.json(lines)},
        )

    return _published_in_full
