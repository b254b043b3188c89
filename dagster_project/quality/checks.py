"""The quality gate as blocking Dagster asset checks: `raw/<feed>:quality`, one per feed.

A failed check (severity ERROR, blocking) stops the dbt build and the publish
step of the run, so the published marts stay as they were. The check's
metadata says which expectations failed for which month, the observed value
against the threshold, up to ten offending rows each, and links the run's
Great Expectations Data Docs.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from dagster_project.assets.raw import raw_asset_key
from dagster_project.contract import FEEDS, Feed, feed_by_name
from dagster_project.quality.gate import GateOutcome, run_gate
from dagster_project.runtime import context_months, run_settings

CHECK_NAME = "quality"

# Checks that read another feed's raw table wait for its load in the same run.
READS_FEEDS = {"lanes": ("declarations",)}


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
        "results": MetadataValue.md(_results_table(outcome)) if outcome.months else "no month to check",
        "failed_expectations": MetadataValue.json(failed),
    }
    if outcome.docs_index is not None:
        meta["data_docs"] = MetadataValue.path(str(outcome.docs_index))
        meta["data_docs_url"] = MetadataValue.url(outcome.docs_index.as_uri())
    if outcome.docs_page:
        meta["data_docs_validation"] = MetadataValue.url(outcome.docs_page)
    if outcome.ledger_published is not None:
        meta["ledger_published"] = MetadataValue.path(str(outcome.ledger_published))
    return meta


def build_quality_check(feed: Feed) -> AssetChecksDefinition:
    @asset_check(
        asset=raw_asset_key(feed),
        name=CHECK_NAME,
        blocking=True,
        additional_deps=[raw_asset_key(feed_by_name(f)) for f in READS_FEEDS.get(feed.name, ())],
        description=f"Data-quality suite expectations/{feed.name}.json (Great Expectations) on the months "
        "just loaded: contract rules on accepted rows, row count against the months before, share of "
        "rejected rows, null shares, distributions. A failure holds the months back from dbt and publishing "
        "until the data is fixed or an operator overrides it (customs-kpi override).",
        pool="warehouse_db",
    )
    def _quality(context: AssetCheckExecutionContext) -> AssetCheckResult:
        settings = run_settings()
        months = context_months(context)
        span = f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}" if months else "no month of the run"
        context.log.info(f"checking {span} (and any month not yet passed) against expectations/{feed.name}.json")
        outcome = run_gate(settings, feed, months, run_id=context.run.run_id)
        for m in outcome.months:
            if m.result != "passed":
                context.log.warning(f"{feed.name} {m.month:%Y-%m}: {m.result}: {m.note}")
        if outcome.ledger_published is not None:
            context.log.info(f"a month is held back: load ledger republished in {outcome.ledger_published}")
        checked = len(outcome.months)
        description = (
            "\n".join(outcome.messages())
            if not outcome.passed
            else f"{checked} month(s) checked against {outcome.evaluated} expectations: "
            + ", ".join(f"{m.month:%Y-%m} {m.result}" for m in outcome.months)
        )
        return AssetCheckResult(
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR,
            description=description,
            metadata=_metadata(outcome),
        )

    return _quality


def quality_checks() -> list[AssetChecksDefinition]:
    return [build_quality_check(f) for f in FEEDS]
