"""The warehouse is a Dagster resource: swapping it points the same assets at another data dir."""

from __future__ import annotations

import duckdb
from dagster import materialize

from dagster_project.assemble import build_definitions
from dagster_project.generate.synth import generate
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
