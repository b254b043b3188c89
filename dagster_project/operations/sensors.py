"""Sensors: a run for every month whose raw files appeared or changed and then settled, and failure alerts."""

import json
import time

import duckdb
from dagster import (
    DefaultSensorStatus,
    PartitionsDefinition,
    RunFailureSensorContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from dagster_project.months import parse_month
from dagster_project.operations.alerts import alert_lines, failure_messages, root_cause, send_alert
from dagster_project.operations.deliveries import loaded_digests, loaded_entries, scan_deliveries
from dagster_project.partitions import partition_key
from dagster_project.runlock import run_in_progress
from dagster_project.runtime import run_settings

LAUNCHED_BY_TAG = "customs_kpi/launched_by"


def plan_runs(
    on_disk: dict[str, str], loaded: dict[str, str], requested: dict[str, str]
) -> list[str]:
    """Months to run: content differs from what was loaded and was not already requested (pure)."""
    return sorted(
        m for m, digest in on_disk.items() if loaded.get(m) != digest and requested.get(m) != digest
    )


def settle(
    on_disk: dict[str, str], seen: dict[str, list], now: float, settle_seconds: int
) -> tuple[dict[str, str], dict[str, list]]:
    """Months whose content has been the same for `settle_seconds`, and the updated first-seen times (pure).

    `seen` maps a month to [digest, when the sensor first saw that digest]; a
    new digest restarts the month's clock.
    """
    first_seen = {}
    for month, digest in on_disk.items():
        prev = seen.get(month)
        first_seen[month] = prev if prev and prev[0] == digest else [digest, now]
    settled = {m: d for m, d in on_disk.items() if now - first_seen[m][1] >= settle_seconds}
    return settled, first_seen


def read_loaded_entries(settings) -> dict:
    """What the work database has loaded, read in a frame of its own: the sensor's frame
    outlives its evaluation (Dagster keeps it), and with it any connection it names, which would
    then be left for the interpreter's exit (nanobind's "leaked instances" lines)."""
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        return loaded_entries(con)


def build_raw_delivery_sensor(job, partitions: PartitionsDefinition) -> SensorDefinition:
    @sensor(
        name="raw_delivery_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Starts a run for a month whose raw folder appeared or whose files changed "
        "(content hash, not modification time), once that content has not changed for "
        "CUSTOMS_KPI_SETTLE_SECONDS (default 300) since the sensor first saw it. The cursor remembers "
        "what it asked for, so the same content is never run twice.",
    )
    def raw_delivery_sensor(context: SensorEvaluationContext):
        settings = run_settings()
        busy = run_in_progress(settings)
        if busy:  # a run launched now would be refused, and this month never asked for again
            return SkipReason(f"{busy}; will look again")
        state = json.loads(context.cursor) if context.cursor else {}
        scan = scan_deliveries(settings.raw_dir, settings.first_month, state.get("hashes"))
        if scan.warnings != state.get("warnings", []):
            for line in scan.warnings:
                context.log.warning(line)
        try:
            loaded = read_loaded_entries(settings)
        except duckdb.CatalogException:
            loaded = {}
        except duckdb.IOException as exc:
            if settings.work_db.exists():
                return SkipReason(
                    f"work database busy ({str(exc).splitlines()[0]}); will look again"
                )
            loaded = {}
        requested: dict[str, str] = dict(state.get("requested", {}))
        valid_keys = set(partitions.get_partition_keys())
        delivered = {
            k: e
            for k, e in scan.delivered().items()
            if partition_key(parse_month(k[1])) in valid_keys
        }
        on_disk = {
            m: d
            for m, d in scan.month_digests().items()
            if partition_key(parse_month(m)) in valid_keys
        }
        loaded_now = loaded_digests(loaded, delivered)
        quiet = {m: d for m, d in scan.quiet_digests().items() if m in on_disk}
        quiet_months, seen = settle(
            quiet, state.get("seen", {}), time.time(), settings.settle_seconds
        )
        settled = {m: on_disk[m] for m in quiet_months}
        runs = []
        for month in plan_runs(settled, loaded_now, requested):
            digest = on_disk[month]
            key = partition_key(parse_month(month))
            runs.append(
                RunRequest(
                    run_key=f"{month}:{digest[:16]}",
                    partition_key=key,
                    tags={LAUNCHED_BY_TAG: "sensor"},
                )
            )
            requested[month] = digest
        cursor = json.dumps(
            {
                "hashes": scan.hashes,
                "requested": requested,
                "seen": seen,
                "warnings": scan.warnings,
            },
            sort_keys=True,
        )
        if runs:
            return SensorResult(run_requests=runs, cursor=cursor)
        waiting = [m for m in plan_runs(on_disk, loaded_now, requested) if m not in settled]
        if waiting:
            reason = (
                f"waiting for {', '.join(waiting)} to settle: content unchanged for "
                f"CUSTOMS_KPI_SETTLE_SECONDS={settings.settle_seconds} s before a run"
            )
        else:
            reason = "no new or changed month"
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)

    return raw_delivery_sensor


def build_run_failure_alert(job) -> SensorDefinition:
    @run_failure_sensor(
        name="run_failure_alert",
        monitored_jobs=[job],
        default_status=DefaultSensorStatus.RUNNING,
        description="Writes a one-line alert per failed feed-month to <data dir>/logs/alerts.log and "
        "posts it to CUSTOMS_KPI_ALERT_WEBHOOK when set.",
    )
    def run_failure_alert(context: RunFailureSensorContext):
        run = context.dagster_run
        if run.tags.get(LAUNCHED_BY_TAG) == "cli":
            return  # the command line writes its own alert
        settings = run_settings()
        start = run.tags.get("dagster/asset_partition_range_start") or run.tags.get(
            "dagster/partition", "?"
        )
        end = run.tags.get("dagster/asset_partition_range_end") or start
        months = start[:7] if start == end else f"{start[:7]}..{end[:7]}"
        messages = failure_messages(context.get_step_failure_events())
        error = getattr(context.failure_event.event_specific_data, "error", None)
        if (
            not messages and error is not None
        ):  # failed before any step, e.g. refused: another run works
            messages = [root_cause(error)]
        send_alert(settings, alert_lines(run.run_id, months, messages))

    return run_failure_alert


def sensors(pipeline_job, partitions: PartitionsDefinition) -> list[SensorDefinition]:
    return [
        build_raw_delivery_sensor(pipeline_job, partitions),
        build_run_failure_alert(pipeline_job),
    ]
