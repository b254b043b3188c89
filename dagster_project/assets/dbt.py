"""The dbt models as Dagster assets: one `dbt build` per run over its month window."""

import sys
from collections.abc import Mapping
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, Optional

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Config, PartitionsDefinition
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.quality.ledger import write_gate_states
from dagster_project.runtime import context_months, patched_environ
from dagster_project.settings import DBT_DIR
from dagster_project.transform.args import dbt_build_args
from dagster_project.transform.child import DBT_CHILD
from dagster_project.transform.lake import export_lake, lake_env, marts_from_spark
from dagster_project.transform.project import (
    dbt_project,
    ensure_manifest,
    keep_partial_parse,
    seed_partial_parse,
)
from dagster_project.transform.resource import CustomsDbtCliResource
from dagster_project.transform.window import build_window
from dagster_project.warehouse.db import work_db
from dagster_project.warehouse.resource import WarehouseResource


class CustomsDbtTranslator(DagsterDbtTranslator):
    """Groups follow the dbt folders (staging, intermediate, marts, seeds)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> Optional[str]:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


TRANSLATOR = CustomsDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class DbtBuildConfig(Config):
    full_refresh: bool = False


def last_build_engine(con) -> str:
    """The engine of the last successful build (a warehouse from before the setting: duckdb)."""
    row = con.execute(
        "SELECT engine FROM meta.build_engine ORDER BY built_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else "duckdb"


def prepare_window(settings, months) -> tuple[Any, datetime]:
    """Write meta.build_window and meta.quality_gate (what the quality gate withholds) for this
    run's build; returns the window and the time it was taken."""
    taken_at = datetime.now(timezone.utc).replace(tzinfo=None)
    with work_db(settings) as con:
        ensure_raw_schema(con)
        dirty = [
            r[0] for r in con.execute("SELECT DISTINCT month FROM meta.dirty_months").fetchall()
        ]
        loaded = [r[0] for r in con.execute("SELECT DISTINCT month FROM raw.load_audit").fetchall()]
        window = build_window(months, dirty, loaded)
        con.execute("DELETE FROM meta.build_window")
        if window:
            con.execute(
                "INSERT INTO meta.build_window VALUES (?, ?)", [window.month_from, window.month_to]
            )
        write_gate_states(con, settings.tz)
    return window, taken_at


def clear_dirty(settings, taken_at: datetime, window, full_refresh: bool) -> None:
    """After a successful build: its months are clean, and waiting to be published
    (every month after a full refresh, noted as a NULL month); the engine that built them is noted."""
    months = [None] if full_refresh else (list(window.each()) if window else [])
    with work_db(settings) as con:
        con.execute("BEGIN")
        con.execute("DELETE FROM meta.dirty_months WHERE noted_at <= ?", [taken_at])
        con.execute("DELETE FROM meta.build_engine")
        con.execute("INSERT INTO meta.build_engine VALUES (?, ?)", [settings.engine, taken_at])
        if months:
            con.executemany(
                "INSERT INTO meta.unpublished_months VALUES (?, ?)", [[m, taken_at] for m in months]
            )
        con.execute("COMMIT")


def build_dbt_assets(partitions: PartitionsDefinition):
    project = dbt_project()
    # under `dagster dev` (the UI), every code-location load re-parses the project, so an edited
    # model shows on "Reload definitions"; elsewhere the manifest is parsed only when stale
    project.prepare_if_dev()
    manifest = ensure_manifest()

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        pool="warehouse_db",
        name="customs_dbt_models",
    )
    def customs_dbt_models(
        context: AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtBuildConfig,
    ):
        settings = warehouse.settings()
        window, taken_at = prepare_window(settings, context_months(context))
        full_refresh = config.full_refresh
        with warehouse.work_db(settings) as con:
            previous = last_build_engine(con)
            if previous != settings.engine:
                context.log.info(
                    f"the last build ran on {previous}: a full build on {settings.engine}"
                )
                full_refresh = True
            lake = (
                export_lake(con, settings, full=full_refresh) if settings.engine == "spark" else []
            )
        if window:
            context.log.info(
                f"rebuilding months [{window.month_from:%Y-%m}, {window.month_to:%Y-%m}) ({window.months()} month(s))"
                f" on {settings.engine}"
            )
        env = {**settings.dbt_env(), **lake_env(lake)}
        # each data dir and engine its own partial parse, run results and log; a data dir's first
        # build starts from the last partial parse of a build with the same dbt environment
        target = settings.dbt_target_dir()
        seed_partial_parse(target, env)
        with patched_environ(env):
            invocation = dbt.cli(
                dbt_build_args(full_refresh=full_refresh), context=context, target_path=target
            )
            yield from invocation.stream()
        keep_partial_parse(target, env)
        if settings.engine == "spark":
            counts = marts_from_spark(settings)
            context.log.info(
                "marts read back from Spark: " + ", ".join(f"{t} {n}" for t, n in counts.items())
            )
        clear_dirty(settings, taken_at, window, full_refresh)

    return customs_dbt_models


def dbt_resource() -> CustomsDbtCliResource:
    """dbt from this interpreter's environment (.venv/bin/dbt), whatever the PATH, started through
    `customs-kpi-dbt` so that it ends with the run's process (transform/child.py), and without
    dagster-dbt's start-up costs (transform/resource.py)."""
    return CustomsDbtCliResource(
        project_dir=dbt_project(),
        # dbt runs in the data dir's work dir (transform/child.py): named, not looked up there
        profiles_dir=str(DBT_DIR),
        dbt_executable=str(Path(sys.executable).with_name(DBT_CHILD)),
    )


def marts_asset_keys(assets_def) -> list[AssetKey]:
    """The dbt assets in the marts group: what the publish step copies."""
    return [k for k in assets_def.keys if assets_def.group_names_by_key.get(k) == "marts"]
