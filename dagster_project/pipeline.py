"""Running the monthly job through Dagster from the command line (and tests)."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

import duckdb
from dagster import AssetKey, DagsterInstance
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from dagster_project.ingest.delivery import survey_raw
from dagster_project.months import month_key
from dagster_project.instance import ensure_dagster_home
from dagster_project.jobs import PIPELINE_JOB_NAME
from dagster_project.operations.alerts import alert_lines, failure_messages, send_alert
from dagster_project.operations.recovery import release_dead_runs
from dagster_project.operations.sensors import LAUNCHED_BY_TAG
from dagster_project.partitions import monthly_partitions, partition_key
from dagster_project.publish.pseudonym import MissingSecret, resolve_secret
from dagster_project.quality.checks import WITHHELD_CHECK_NAME
from dagster_project.runlock import RunInProgress, run_lock
from dagster_project.runtime import patched_environ
from dagster_project.settings import Settings

DBT_OP_NAME = "customs_dbt_models"


@dataclass
class Outcome:
    success: bool
    failures: list[str] = field(default_factory=list)
    run_id: str | None = None
    months: tuple[date, date] | None = None
    failed_checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(
        default_factory=list
    )  # folders under raw/ that were not read, by name
    busy: bool = False  # refused: another run holds the data dir


def month_range(
    settings: Settings,
    month_from: date | None,
    month_to: date | None,
    warnings: list[str] | None = None,
) -> tuple[date, date]:
    """The months to run: the range asked for, or from the first to the last month folder present.

    Folders that are not month folders, and months before CUSTOMS_KPI_FIRST_MONTH, are
    appended to `warnings` by name.
    """
    survey = survey_raw(settings.raw_dir, settings.first_month)
    if warnings is not None:
        warnings.extend(survey.warnings)
    present = sorted({m for months in survey.months.values() for m in months})
    if not present and not (month_from and month_to):
        raise ValueError(f"no month folders (YYYY-MM) under {settings.raw_dir}")
    first = month_from or present[0]
    last = month_to or present[-1]
    if first > last:
        raise ValueError(f"--from {month_key(first)} is after --to {month_key(last)}")
    keys = monthly_partitions(settings.first_month).get_partition_keys()
    for m in (first, last):
        if partition_key(m) not in keys:
            raise ValueError(
                f"month {month_key(m)} is outside the partitions ({keys[0][:7]} .. {keys[-1][:7]})"
            )
    return first, last


def summary_table(settings: Settings, first: date, last: date, published: bool) -> str:
    """Per feed-month: files, rows read/accepted/rejected, quality result, published or not."""
    try:
        with duckdb.connect(str(settings.work_db), read_only=True) as con:
            rows = con.execute(
                "SELECT feed, strftime(month, '%Y-%m'), count(*), sum(rows_read), sum(rows_accepted), "
                "sum(rows_rejected), string_agg(DISTINCT quality_result, ',') FROM raw.load_audit "
                "WHERE month >= ? AND month <= ? GROUP BY ALL ORDER BY 2, 1",
                [first, last],
            ).fetchall()
    except duckdb.Error:
        rows = []
    header = f"{'month':<8} {'feed':<13} {'files':>5} {'read':>9} {'accepted':>9} {'rejected':>8}  {'quality':<12} published"
    lines = [header, "-" * len(header)]
    for feed, month, files, read, accepted, rejected, quality in rows:
        lines.append(
            f"{month:<8} {feed:<13} {files:>5} {read:>9} {accepted:>9} {rejected:>8}  {quality or '':<12} "
            f"{'yes' if published else 'no'}"
        )
    if not rows:
        lines.append("(nothing loaded for these months)")
    return "\n".join(lines)


def run_pipeline(
    settings: Settings,
    *,
    month_from: date | None = None,
    month_to: date | None = None,
    full_refresh: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
    launched_by: str = "cli",
) -> Outcome:
    """One Dagster run of the monthly job over [month_from, month_to], recorded in DAGSTER_HOME.
    Refused at once (Outcome.busy) while another run holds the data dir's run lock."""
    out = out or sys.stdout
    run_id = str(uuid.uuid4())
    try:
        with run_lock(settings, run_id):
            return _run_locked(
                settings, run_id, month_from, month_to, full_refresh, verbose, out, launched_by
            )
    except RunInProgress as exc:
        return Outcome(False, [str(exc)], busy=True)


def _run_locked(
    settings: Settings,
    run_id: str,
    month_from: date | None,
    month_to: date | None,
    full_refresh: bool,
    verbose: bool,
    out: TextIO,
    launched_by: str,
) -> Outcome:
    warnings: list[str] = []
    try:
        first, last = month_range(settings, month_from, month_to, warnings)
    except ValueError as exc:
        return Outcome(False, [str(exc)], warnings=warnings)
    finally:
        for line in warnings:
            print(f"warning: {line}", file=out, flush=True)
    try:  # refuse before loading anything: without a key nothing row-level may be published
        resolve_secret(settings)
    except MissingSecret as exc:
        print(f"{PIPELINE_JOB_NAME}: FAILED, nothing published", file=out, flush=True)
        return Outcome(False, [str(exc)], months=(first, last), warnings=warnings)
    with patched_environ(settings.as_env()):
        ensure_dagster_home(settings)
        from dagster_project.assemble import build_definitions

        job = build_definitions(settings).resolve_job_def(PIPELINE_JOB_NAME)
        run_config: dict = {"ops": {DBT_OP_NAME: {"config": {"full_refresh": full_refresh}}}}
        if not verbose:
            run_config["loggers"] = {"progress": {}}
        print(f"{PIPELINE_JOB_NAME}: {month_key(first)} .. {month_key(last)}", file=out, flush=True)
        with DagsterInstance.get() as instance:
            for dead in release_dead_runs(instance):  # a killed run must not hold the pool slot
                print(
                    f"run {dead} was left unfinished by a process that is gone: marked failed",
                    file=out,
                )
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                run_config=run_config,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: partition_key(first),
                    ASSET_PARTITION_RANGE_END_TAG: partition_key(last),
                    LAUNCHED_BY_TAG: launched_by,
                },
                raise_on_error=False,
            )
    failed_checks = sorted(
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value.lower()})"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    )
    outcome = Outcome(result.success, [], result.run_id, (first, last), failed_checks, warnings)
    if not result.success:
        outcome.failures = failure_messages(result.all_events) or [
            f"run {result.run_id} failed (see the Dagster UI)"
        ]
        months = month_key(first) if first == last else f"{month_key(first)}..{month_key(last)}"
        send_alert(settings, alert_lines(result.run_id, months, outcome.failures))
    print(summary_table(settings, first, last, result.success), file=out)
    if failed_checks:
        print("checks not passed: " + ", ".join(failed_checks), file=out)
    published = any(
        e.is_step_materialization and e.asset_key == AssetKey(["published_warehouse"])
        for e in result.all_events
    )
    failed_steps = {e.step_key for e in result.all_events if e.is_step_failure}
    if result.success:
        status = "published"
    elif (
        published
        and failed_steps
        and all(k.endswith(f"_{WITHHELD_CHECK_NAME}") for k in failed_steps)
    ):
        withheld = [m for m in outcome.failures if m.startswith("withheld: ")]
        status = f"published, except the KPI values of {len(withheld)} withheld feed-month(s) (see the errors)"
    elif published:  # a step after the swap failed (report, data dictionary)
        status = "FAILED after publishing the warehouse (see the errors)"
    else:
        status = "FAILED, nothing published"
    print(f"run {result.run_id}: {status}", file=out, flush=True)
    return outcome
