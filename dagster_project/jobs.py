"""The monthly pipeline as one job: raw loads -> checks -> dbt -> publish."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    Executor,
    PartitionsDefinition,
    define_asset_job,
    executor,
    in_process_executor,
)

from dagster_project.runlock import run_lock
from dagster_project.settings import Settings

PIPELINE_JOB_NAME = "monthly_pipeline"


class LockedExecutor(Executor):
    """Dagster's in-process executor, run under the data dir's run lock (`runlock.py`): a run the
    daemon launches (schedule, sensor, the UI) while another run works stops at once, saying which."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        with run_lock(Settings.from_env(), plan_context.run_id):
            yield from self._inner.execute(plan_context, execution_plan)


@executor(name="in_process_locked", config_schema=in_process_executor.config_schema)
def locked_in_process_executor(init_context) -> Executor:
    return LockedExecutor(in_process_executor.executor_creation_fn(init_context))


def build_monthly_pipeline(partitions: PartitionsDefinition):
    """The job over every asset, on the partitions built from the settings (`assemble.build_definitions`)."""
    # In-process: the steps share one DuckDB work file, which takes one writer at a time.
    # `execute_in_process` (run_pipeline) replaces the executor; run_pipeline takes the lock itself.
    return define_asset_job(
        name=PIPELINE_JOB_NAME,
        selection=AssetSelection.all(),
        partitions_def=partitions,
        executor_def=locked_in_process_executor,
        description="Load every feed for the month(s), run the quality checks, build the dbt models, publish.",
    )
