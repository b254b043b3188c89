"""The monthly pipeline as one job: raw loads -> checks -> dbt -> publish."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from dagster_project.partitions import MONTHLY

PIPELINE_JOB_NAME = "monthly_pipeline"

# In-process: the steps share one DuckDB work file, which takes one writer at a time.
monthly_pipeline = define_asset_job(
    name=PIPELINE_JOB_NAME,
    selection=AssetSelection.all(),
    partitions_def=MONTHLY,
    executor_def=in_process_executor,
    description="Load every feed for the month(s), run the quality checks, build the dbt models, publish.",
)
