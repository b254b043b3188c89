"""The monthly schedule: on the configured day, run the month just closed."""

from datetime import datetime, timezone

from dagster import (
    AssetCheckKey,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)

from dagster_project.assets.raw import raw_asset_key
from dagster_project.contract import FEEDS
from dagster_project.partitions import partition_key
from dagster_project.months import add_months
from dagster_project.runtime import run_settings


def month_to_run(local_day) -> str | None:
    """Partition key of the month just closed (pure; the caller decides the day)."""
    return partition_key(add_months(local_day.replace(day=1), -1))


def build_monthly_close(job) -> ScheduleDefinition:
    @schedule(
        name="monthly_close",
        job=job,
        cron_schedule="0 6 * * *",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Daily tick; on day CUSTOMS_KPI_SCHEDULE_DAY (default 5, in the administration's "
        "time zone) it runs the whole pipeline for the month just closed.",
    )
    def monthly_close(context: ScheduleEvaluationContext):
        settings = run_settings()
        when = context.scheduled_execution_time or datetime.now(timezone.utc)
        local_day = when.astimezone(settings.zone).date()
        if local_day.day != settings.schedule_day:
            return SkipReason(
                f"runs on day {settings.schedule_day} of the month (today is day {local_day.day})"
            )
        key = month_to_run(local_day)
        return RunRequest(run_key=f"monthly_close:{key}", partition_key=key)

    return monthly_close


FRESHNESS_JOB_NAME = "freshness_checks"

freshness_job = define_asset_job(
    name=FRESHNESS_JOB_NAME,
    selection=AssetSelection.checks(
        *[AssetCheckKey(raw_asset_key(f), "delivery_freshness") for f in FEEDS]
    ),
    description="Evaluate every feed's delivery freshness check (a month overdue shows in the UI).",
    executor_def=in_process_executor,  # reads only: not under the run lock that writing runs take
)

freshness_daily = ScheduleDefinition(
    name="freshness_daily",
    job=freshness_job,
    cron_schedule="0 7 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily evaluation of the delivery freshness checks.",
)


def schedules(pipeline_job) -> list[ScheduleDefinition]:
    return [build_monthly_close(pipeline_job), freshness_daily]
