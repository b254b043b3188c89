"""Assemble the code location from one module per concern."""

from __future__ import annotations

from dagster import AssetSpec, Definitions

from dagster_project.assets.dbt import build_dbt_assets, dbt_resource, marts_asset_keys
from dagster_project.assets.publish import build_publish_asset
from dagster_project.assets.report import build_report_assets
from dagster_project.assets.raw import raw_assets, raw_checks
from dagster_project.jobs import build_monthly_pipeline, locked_in_process_executor
from dagster_project.operations.freshness import freshness_checks
from dagster_project.operations.progress import progress_logger
from dagster_project.operations.schedules import freshness_job, schedules
from dagster_project.operations.sensors import sensors
from dagster_project.partitions import monthly_partitions
from dagster_project.quality.checks import quality_checks
from dagster_project.settings import Settings
from dagster_project.warehouse.resource import WarehouseResource


# The load ledger is written by every raw load (not materialised on its own).
LOAD_AUDIT = AssetSpec(
    key=["raw", "load_audit"],
    group_name="raw",
    description="raw.load_audit: one row per feed, month and file with rows read, accepted and rejected, "
    "and the quality result; written by every raw load.",
    kinds={"duckdb"},
)


def build_definitions(settings: Settings | None = None) -> Definitions:
    """The code location. The monthly partitions start at CUSTOMS_KPI_FIRST_MONTH, read here
    (when the definitions are built), not when a module is imported."""
    settings = settings or Settings.from_env()
    partitions = monthly_partitions(settings.first_month)
    monthly_pipeline = build_monthly_pipeline(partitions)
    dbt_models = build_dbt_assets(partitions)
    return Definitions(
        assets=[
            *raw_assets(partitions),
            LOAD_AUDIT,
            dbt_models,
            build_publish_asset(marts_asset_keys(dbt_models), partitions),
            *build_report_assets(partitions),
        ],
        asset_checks=[*raw_checks(), *quality_checks(), *freshness_checks()],
        jobs=[monthly_pipeline, freshness_job],
        schedules=schedules(monthly_pipeline),
        sensors=sensors(monthly_pipeline, partitions),
        loggers={"progress": progress_logger},
        resources={"dbt": dbt_resource(), "warehouse": WarehouseResource()},
        # materialisations launched from the UI: one process, under the run lock, like the monthly job
        executor=locked_in_process_executor,
    )
