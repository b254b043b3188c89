"""The resources of the assets: the warehouse (swapping it points the same assets at another data
dir) and dbt (dagster-dbt's resource without its start-up costs)."""

from __future__ import annotations

import duckdb
from dagster import materialize
from dagster_dbt import DbtCliResource

from dagster_project.assemble import build_definitions
from dagster_project.assets.dbt import dbt_resource
from dagster_project.generate.synth import generate
from dagster_project.transform.resource import CustomsDbtCliResource
from dagster_project.warehouse.resource import WarehouseResource
from tests.conftest import make_settings


def test_a_swapped_warehouse_resource_loads_into_its_own_data_dir(tmp_path, monkeypatch):
    elsewhere = tmp_path / "from-the-environment"
    monkeypatch.setenv("CUSTOMS_KPI_DATA_DIR", str(elsewhere))
    monkeypatch.setenv("CUSTOMS_KPI_THREADS", "1")
    settings = make_settings(tmp_path / "swapped")
    generate(
        settings.raw_dir, "2024-06", "2024-06", declarations_per_month=40, seed=3, tz=settings.tz
    )

    defs = build_definitions(settings)
    assert isinstance(defs.resources["warehouse"], WarehouseResource)
    raw = defs.get_assets_def(["raw", "declarations"])
    result = materialize(
        [raw],
        partition_key="2024-06-01",
        resources={"warehouse": WarehouseResource(data_dir=str(settings.data_dir))},
        selection=[raw.key],
    )
    assert result.success
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.declarations").fetchone()[0] > 0
    assert not elsewhere.exists()


def test_the_dbt_resource_overrides_hooks_dagster_dbt_has_and_knows_the_dbt_it_runs():
    """The two hooks `CustomsDbtCliResource` replaces are dagster-dbt's own: were one renamed by an
    upgrade, the override would silently stop saving anything. The version it reads from the
    installed dbt-core is the one dagster-dbt's own `dbt --version` finds for the same executable."""
    for hook in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert hook in vars(DbtCliResource), hook
        assert hook in vars(CustomsDbtCliResource), hook
    ours = dbt_resource()
    theirs = DbtCliResource(project_dir=ours.project_dir, dbt_executable=ours.dbt_executable)
    assert ours._cli_version == theirs._cli_version
    assert ours._cli_version.major == 1  # dbt Core: dagster-dbt would build its adapter
    assert ours._initialize_dbt_core_adapter(["build"]) is None
