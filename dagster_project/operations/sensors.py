"""Sensors: a run for every month whose raw files appeared or changed, and failure alerts."""

import json

import duckdb
from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from dagster_project.ingest.files import parse_month
from dagster_project.jobs import monthly_pipeline
from dagster_project.operations.alerts import alert_lines, failure_messages, root_cause, send_alert
from dagster_project.operations.deliveries import loaded_deliveries, scan_deliveries
from dagster_project.partitions import MONTHLY, partition_key
from dagster_project.runlock import run_in_progress
from dagster_project.runtime import run_settings

LAUNCHED_BY_TAG = "customs_kpi/launched_by"


def plan_runs(on_disk: dict[str, str], loaded: dict[str, str], requested: dict[str, str]) -> list[str]:
    """Months to run: content differs from what was loaded and was not already requested (pure)."""
    return sorted(m for m, digest in on_disk.items() if loaded.get(m) != digest and requested.get(m) != digest)


@sensor(
    name="raw_delivery_sensor",
    job=monthly_pipeline,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts a run for a month whose raw folder appeared or whose files changed "
    "(content hash, not modification time). The cursor remembers what it asked for, so the "
    "same content is never run twice.",
)
def raw_delivery_sensor(context: SensorEvaluationContext):
    settings = run_settings()
    busy = run_in_progress(settings)
    if busy:  # a run launched now would be refused, and this month never asked for again
        return SkipReason(f"{busy}; will look again")
    state = json.loads(context.cursor) if context.cursor else {}
    deliveries, hashes = scan_deliveries(settings.raw_dir, state.get("hashes"))
    try:
        with duckdb.connect(str(settings.work_db), read_only=True) as con:
            loaded = loaded_deliveries(con)
    except duckdb.CatalogException:
        loaded = {}
    except duckdb.IOException as exc:
        if settings.work_db.exists():
            return SkipReason(f"work database busy ({str(exc).splitlines()[0]}); will look again")
        loaded = {}
    requested: dict[str, str] = dict(state.get("requested", {}))
    valid_keys = set(MONTHLY.get_partition_keys())
    on_disk = {m: d.digest for m, d in deliveries.items() if partition_key(parse_month(m)) in valid_keys}
    runs = []
    for month in plan_runs(on_disk, loaded, requested):
        digest = on_disk[month]
        key = partition_key(parse_month(month))
        runs.append(RunRequest(run_key=f"{month}:{digest[:16]}", partition_key=key, tags={LAUNCHED_BY_TAG: "sensor"}))
        requested[month] = digest
    cursor = json.dumps({"hashes": hashes, "requested": requested}, sort_keys=True)
    if not runs:
        return SensorResult(skip_reason=SkipReason("no new or changed month"), cursor=cursor)
    return SensorResult(run_requests=runs, cursor=cursor)


@run_failure_sensor(
    name="run_failure_alert",
    monitored_jobs=[monthly_pipeline],
    default_status=DefaultSensorStatus.RUNNING,
    description="Writes a one-line alert per failed feed-month to <data dir>/logs/alerts.log and "
    "posts it to CUSTOMS_KPI_ALERT_WEBHOOK when set.",
)
def run_failure_alert(context: RunFailureSensorContext):
    run = context.dagster_run
    if run.tags.get(LAUNCHED_BY_TAG) == "cli":
        return  # the command line writes its own alert
    settings = run_settings()
    start = run.tags.get("dagster/asset_partition_range_start") or run.tags.get("dagster/partition", "?")
    end = run.tags.get("dagster/asset_partition_range_end") or start
    months = start[:7] if start == end else f"{start[:7]}..{end[:7]}"
    messages = failure_messages(context.get_step_failure_events())
    error = getattr(context.failure_event.event_specific_data, "error", None)
    if not messages and error is not None:  # failed before any step, e.g. refused: another run works
        messages = [root_cause(error)]
    send_alert(settings, alert_lines(run.run_id, months, messages))


def sensors():
    return [raw_delivery_sensor, run_failure_alert]
