"""The monthly pipeline as one job: raw loads -> checks -> dbt -> publish."""

from __future__ import annotations

from dagster import AssetSelection, PartitionsDefinition, define_asset_job, in_process_executor

PIPELINE_JOB_NAME = "monthly_pipeline"


def build_monthly_pipeline(partitions: PartitionsDefinition):
    """The job over every asset, on the partitions built from the settings (`assemble.build_definitions`)."""
    # In-process: the steps share one DuckDB work file, which takes one writer at a time.
    return define_asset_job(
        name=PIPELINE_JOB_NAME,
        selection=AssetSelection.all(),
        partitions_def=partitions,
        executor_def=in_process_executor,
        description="Load every feed for the month(s), run the quality checks, build the dbt models, publish.",
    )
