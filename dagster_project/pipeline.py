"""Running the monthly job through Dagster from the command line (and tests)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dagster_project.ingest.files import discover_months, month_key
from dagster_project.instance import ensure_dagster_home
from dagster_project.jobs import PIPELINE_JOB_NAME
from dagster_project.partitions import MONTHLY, partition_key
from dagster_project.runtime import patched_environ
from dagster_project.settings import Settings

DBT_OP_NAME = "customs_dbt_models"


@dataclass
class Outcome:
    success: bool
    failures: list[str] = field(default_factory=list)
    run_id: str | None = None
    months: list[date] = field(default_factory=list)


def month_range(settings: Settings, month_from: date | None, month_to: date | None) -> tuple[date, date]:
    found = discover_months(settings.raw_dir)
    present = sorted({m for months in found.values() for m in months})
    if not present and not (month_from and month_to):
        raise ValueError(f"no month folders (YYYY-MM) under {settings.raw_dir}")
    first = month_from or present[0]
    last = month_to or present[-1]
    if first > last:
        raise ValueError(f"--from {month_key(first)} is after --to {month_key(last)}")
    keys = MONTHLY.get_partition_keys()
    for m in (first, last):
        if partition_key(m) not in keys:
            raise ValueError(f"month {month_key(m)} is outside the partitions ({keys[0][:7]} .. {keys[-1][:7]})")
    return first, last


def _failure_messages(result) -> list[str]:
    messages: list[str] = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            if user is not None and user.description:
                messages.extend(part.strip() for part in user.description.split("; ") if part.strip())
            elif data.error is not None:
                messages.append(f"{event.step_key}: {data.error.message.strip().splitlines()[0]}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            messages.append(f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed")
    return messages


def run_pipeline(
    settings: Settings,
    *,
    month_from: date | None = None,
    month_to: date | None = None,
    full_refresh: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
) -> Outcome:
    """One Dagster run of the monthly job over [month_from, month_to], recorded in DAGSTER_HOME."""
    out = out or sys.stdout
    try:
        first, last = month_range(settings, month_from, month_to)
    except ValueError as exc:
        return Outcome(False, [str(exc)])
    with patched_environ(settings.as_env()):
        ensure_dagster_home(settings)
        from dagster_project.definitions import build_definitions

        job = build_definitions().resolve_job_def(PIPELINE_JOB_NAME)
        run_config: dict = {"ops": {DBT_OP_NAME: {"config": {"full_refresh": full_refresh}}}}
        if not verbose:
            run_config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
        print(f"running {PIPELINE_JOB_NAME} for {month_key(first)} .. {month_key(last)}", file=out)
        with DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                run_config=run_config,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: partition_key(first),
                    ASSET_PARTITION_RANGE_END_TAG: partition_key(last),
                },
                raise_on_error=False,
            )
    outcome = Outcome(result.success, [] if result.success else _failure_messages(result), result.run_id)
    if not result.success and not outcome.failures:
        outcome.failures.append(f"run {result.run_id} failed (see the Dagster UI)")
    status = "published" if result.success else "FAILED, nothing published"
    print(f"run {result.run_id}: {status}", file=out)
    return outcome
