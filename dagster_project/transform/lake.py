"""The lake between DuckDB and Spark, for CUSTOMS_KPI_ENGINE=spark (docs/scale-out.md).

Loading, row checks, rejects, the quality gate and the ledger stay on DuckDB. Before a Spark
build, the tables the dbt sources name (and the two meta tables the models' macros read) are
written as Parquet under `<lake>/<schema>/<table>/`: a feed's rows partitioned by month
(`_month=YYYY-MM-DD/`), only the months that changed rewritten; the small tables whole. dbt
registers them as Spark tables when it starts (macro `register_lake`) and builds the models
as Parquet tables in Spark's warehouse folder. After the build the marts are read back into
the work database, in the exact column types a DuckDB build gives them, and published from
there as on the DuckDB path.

Every folder is replaced by a rename, never rewritten in place: a killed export leaves the
lake's previous months readable, and its temporary folder is swept by the next export.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.dataset as pads

from dagster_project.contract import FEEDS
from dagster_project.warehouse.sql import lit, q
from dagster_project.publish.publisher import marts_tables
from dagster_project.publish.swap import swap_dir
from dagster_project.settings import Settings
from dagster_project.transform.project import run_dbt
from dagster_project.warehouse.db import work_db

MONTH_COLUMN = "_month"  # the raw layer's partition month
PARTITION_PREFIX = f"{MONTH_COLUMN}="
TEMP_PREFIX = ".export-"
# DuckDB column types -> Spark SQL types, for the lake tables' declared schemas.
SPARK_TYPES = {
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
}


@dataclass(frozen=True)
class LakeTable:
    schema: str
    name: str
    partition: str | None = None  # the month column a feed's table is partitioned by

    @property
    def qualified(self) -> str:
        return f"{q(self.schema)}.{q(self.name)}"


def lake_tables() -> list[LakeTable]:
    """What the Spark build reads: every feed's raw table (sources), the load ledger (source),
    and the meta tables the macros read (build window, quality gate)."""
    return [
        *(LakeTable("raw", feed.name, MONTH_COLUMN) for feed in FEEDS),
        LakeTable("raw", "load_audit"),
        LakeTable("meta", "quality_gate"),
        LakeTable("meta", "build_window"),
    ]


def _spark_type(table: LakeTable, column: str, duckdb_type: str) -> str:
    try:
        return SPARK_TYPES[duckdb_type]
    except KeyError:
        raise RuntimeError(
            f"{table.schema}.{table.name}.{column}: DuckDB type {duckdb_type} has no Spark type in the lake "
            "(dagster_project/transform/lake.py SPARK_TYPES)"
        ) from None


def _sweep(root: Path) -> None:
    """What a killed export left, beside a table or a month folder: staged folders, and old ones
    `swap_dir` had not removed yet (Spark's own folder, far larger, is not walked)."""
    for schema in {table.schema for table in lake_tables()}:
        for depth in ("", "*/"):  # beside a table, beside a month of it
            for pattern in (f"{TEMP_PREFIX}*", ".*.old"):
                for leftover in (root / schema).glob(depth + pattern):
                    shutil.rmtree(leftover, ignore_errors=True)


def _partition_months(location: Path) -> set[date]:
    months = set()
    if location.is_dir():
        for child in location.iterdir():
            if child.is_dir() and child.name.startswith(PARTITION_PREFIX):
                months.add(date.fromisoformat(child.name[len(PARTITION_PREFIX) :]))
    return months


def export_lake(con: duckdb.DuckDBPyConnection, settings: Settings, *, full: bool) -> list[dict]:
    """Write the lake for this run's Spark build; returns the tables as `register_lake` takes them
    (CUSTOMS_KPI_LAKE_TABLES). A feed's months that loads changed since the last build
    (meta.dirty_months) are rewritten, and any month the lake lacks; months no longer in the raw
    layer go; `full` rewrites every month."""
    changed: dict[str, set[date]] = {}
    for feed, month in con.execute("SELECT DISTINCT feed, month FROM meta.dirty_months").fetchall():
        changed.setdefault(feed, set()).add(month)
    root = settings.lake_dir
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root)
    described = []
    for table in lake_tables():
        location = root / table.schema / table.name
        location.parent.mkdir(parents=True, exist_ok=True)
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [table.schema, table.name],
        ).fetchall()
        if not columns:
            raise RuntimeError(
                f"{table.schema}.{table.name} is not in the work database: nothing to export to the lake"
            )
        if table.partition:
            _export_months(con, table, location, changed.get(table.name, set()), full=full)
        else:
            staged = location.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
            staged.mkdir()
            con.execute(
                f"COPY (SELECT * FROM {table.qualified}) TO {lit(str(staged / 'data.parquet'))} (FORMAT parquet)"
            )
            swap_dir(staged, location)
        described.append(
            {
                "schema": table.schema,
                "name": table.name,
                "location": str(location),
                "partition": table.partition,
                "columns": [
                    {"name": name, "type": _spark_type(table, name, kind)} for name, kind in columns
                ],
            }
        )
    return described


def _export_months(
    con, table: LakeTable, location: Path, changed: set[date], *, full: bool
) -> None:
    raw_months = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT {q(table.partition)} FROM {table.qualified}"
        ).fetchall()
    }
    present = _partition_months(location)
    rewrite = raw_months if full else (raw_months & changed) | (raw_months - present)
    location.mkdir(exist_ok=True)
    for month in present - raw_months:
        shutil.rmtree(location / f"{PARTITION_PREFIX}{month.isoformat()}")
    if not rewrite:
        return
    staged = location.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    months = ", ".join(f"DATE {lit(m.isoformat())}" for m in sorted(rewrite))
    con.execute(
        f"COPY (SELECT * FROM {table.qualified} WHERE {q(table.partition)} IN ({months})) "
        f"TO {lit(str(staged))} (FORMAT parquet, PARTITION_BY ({q(table.partition)}))"
    )
    try:
        for month in sorted(rewrite):
            part = staged / f"{PARTITION_PREFIX}{month.isoformat()}"
            swap_dir(part, location / part.name)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def lake_env(tables: list[dict]) -> dict[str, str]:
    """The variable dbt's `register_lake` reads."""
    return {"CUSTOMS_KPI_LAKE_TABLES": json.dumps(tables)}


def read_back_marts(
    con: duckdb.DuckDBPyConnection, settings: Settings, tables: list[str]
) -> dict[str, int]:
    """Fill the work database's marts tables (the shells a DuckDB `--empty` build left, with the
    column types a DuckDB build gives) from the Spark build's Parquet tables; returns rows per
    table. Values are cast to the DuckDB column types (Spark's timestamps are UTC instants)."""
    counts = {}
    con.execute("SET TimeZone = 'UTC'")
    for table in tables:
        location = settings.spark_warehouse_dir / "marts.db" / table
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        con.execute(f"DELETE FROM marts.{q(table)}")
        if not location.is_dir():
            raise RuntimeError(
                f"the Spark build left no table marts.{table} (expected at {location})"
            )
        dataset = pads.dataset(str(location), format="parquet", partitioning="hive")
        if not dataset.files:
            counts[table] = 0
            continue
        missing = [name for name, _ in columns if name not in dataset.schema.names]
        if missing:
            raise RuntimeError(
                f"marts.{table} from Spark lacks the columns {', '.join(missing)} ({location})"
            )
        con.register("spark_mart", dataset)
        try:
            select = ", ".join(
                f"CAST(spark_mart.{q(name)} AS {kind}) AS {q(name)}" for name, kind in columns
            )
            con.execute(f"INSERT INTO marts.{q(table)} SELECT {select} FROM spark_mart")
        finally:
            con.unregister("spark_mart")
        counts[table] = con.execute(f"SELECT count(*) FROM marts.{q(table)}").fetchone()[0]
    return counts


def _duckdb_dbt(settings: Settings, args: list[str]) -> None:
    run_dbt(
        args,
        settings.dbt_process_env(engine="duckdb"),
        target_path=settings.dbt_target_dir("duckdb"),
    )


def marts_from_spark(settings: Settings) -> dict[str, int]:
    """After a Spark build: the work database's marts as a DuckDB build would leave them, filled
    with the Spark build's rows, so that the publisher works as on the DuckDB path. A DuckDB
    `dbt build --empty` gives every model its DuckDB column types with no rows (and no test);
    the marts tables are filled from Spark's Parquet; then the marts views are made again over
    them (an `--empty` view reads nothing). Returns rows per table."""
    _duckdb_dbt(
        settings,
        ["build", "--empty", "--full-refresh", "--exclude-resource-type", "test", "unit_test"],
    )
    with work_db(settings) as con:
        counts = read_back_marts(con, settings, marts_tables(con))
    _duckdb_dbt(settings, ["run", "--select", "marts,config.materialized:view"])
    return counts
