"""The code location: assembled from one module per concern."""

from __future__ import annotations

from dagster import Definitions

from dagster_project.assets.dbt import build_dbt_assets, dbt_resource, marts_asset_keys
from dagster_project.assets.publish import build_publish_asset
from dagster_project.assets.raw import raw_assets, raw_checks
from dagster_project.jobs import monthly_pipeline


def build_definitions() -> Definitions:
    dbt_models = build_dbt_assets()
    return Definitions(
        assets=[*raw_assets(), dbt_models, build_publish_asset(marts_asset_keys(dbt_models))],
        asset_checks=raw_checks(),
        jobs=[monthly_pipeline],
        resources={"dbt": dbt_resource()},
    )


defs = build_definitions()
