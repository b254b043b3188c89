"""CUSTOMS_KPI_ENGINE=spark: the same dbt models built on Apache Spark (dbt-spark, session
mode, a local master) publish the same marts as the DuckDB build, first in full, then with one
month added incrementally."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.pipeline import run_pipeline
from dagster_project.settings import PROJECT_ROOT, Settings, SettingsError
from tests.conftest import CLI, make_settings
from tests.engine_compare import compare_marts

SAMPLE = PROJECT_ROOT / "data" / "raw"
FIRST_MONTHS = ("2024-01", "2024-02", "2024-03")
ADDED_MONTH = "2024-04"
SPARK = {
    "CUSTOMS_KPI_ENGINE": "spark",
    "CUSTOMS_KPI_SPARK_MASTER": "local[2]",
    "CUSTOMS_KPI_SPARK_CONF": "spark.sql.shuffle.partitions=4 spark.driver.memory=1g",
}


def copy_sample_months(raw: Path, months) -> None:
    for feed in sorted(p for p in SAMPLE.iterdir() if p.is_dir()):
        for month in months:
            if (feed / month).is_dir():
                shutil.copytree(feed / month, raw / feed.name / month)


def run(settings: Settings, **kwargs) -> None:
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out, **kwargs)
    assert outcome.success, (outcome.failures, out.getvalue()[-6000:])


@contextmanager
def running_beside(settings: Settings, *args: str):
    """`customs-kpi run ARGS` on `settings` in a child process while the block runs, waited for
    at its end. The Spark build waits on Spark far more than it computes (about half a core
    in use): the DuckDB build it is compared with fills that time instead of following it."""
    with tempfile.TemporaryFile("w+") as log:  # not a pipe: a full one would stop the child
        proc = subprocess.Popen(
            [str(CLI), "run", *args],
            env={**os.environ, **settings.as_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            proc.wait(timeout=600)
        log.seek(0)
        assert proc.returncode == 0, log.read()[-6000:]


def part_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}


def build_window(settings: Settings) -> tuple[date, date]:
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        return con.execute("SELECT month_from, month_to FROM meta.build_window").fetchone()


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    duck = make_settings(root / "duckdb")
    spark = make_settings(root / "spark", **SPARK)
    for settings in (duck, spark):
        copy_sample_months(settings.raw_dir, FIRST_MONTHS)
    with running_beside(duck):
        run(spark)
    return duck, spark


@pytest.mark.slow
def test_spark_publishes_the_marts_the_duckdb_build_publishes(engines):
    duck, spark = engines
    assert compare_marts(str(duck.published_db), str(spark.published_db)) == []
    with duckdb.connect(str(spark.published_db), read_only=True) as con:
        # the seed loader's quoting: catalog texts with apostrophes arrive whole
        assert (
            con.execute(
                "SELECT count(*) FROM marts.kpi_catalog WHERE definition LIKE '%''%'"
            ).fetchone()[0]
            > 0
        )
        assert con.execute("SELECT count(*) FROM marts.fct_declarations").fetchone()[0] > 0
    # the lake: the raw layer by month, and Spark's tables beside it
    assert (spark.lake_dir / "raw" / "declarations" / "_month=2024-01-01").is_dir()
    assert (
        spark.spark_warehouse_dir / "marts.db" / "fct_declarations" / "month=2024-01-01"
    ).is_dir()
    assert not (duck.lake_dir).exists()


@pytest.mark.slow
def test_a_month_added_on_spark_rewrites_only_the_window_and_matches_duckdb(engines):
    duck, spark = engines
    facts = spark.spark_warehouse_dir / "marts.db" / "fct_declarations"
    lake = spark.lake_dir / "raw" / "declarations"
    before = {
        folder: part_files(folder)
        for folder in (*facts.iterdir(), *lake.iterdir())
        if folder.is_dir()
    }
    month = date.fromisoformat(f"{ADDED_MONTH}-01")
    for settings in (duck, spark):
        copy_sample_months(settings.raw_dir, [ADDED_MONTH])
    with running_beside(duck, "--from", ADDED_MONTH, "--to", ADDED_MONTH):
        run(spark, month_from=month, month_to=month)
    assert compare_marts(str(duck.published_db), str(spark.published_db)) == []
    # Spark's fact partitions before the build window, and the lake's declarations of months
    # no load changed, are the very files the first run wrote
    month_from, _ = build_window(spark)
    kept = [
        folder
        for folder in before
        if folder.parent == facts and folder.name < f"month={month_from}"
    ]
    assert kept, (
        f"no fact month before the window [{month_from}, ...): the check would prove nothing"
    )
    kept += [folder for folder in before if folder.parent == lake]
    assert {folder: part_files(folder) for folder in kept} == {
        folder: before[folder] for folder in kept
    }
    assert (
        spark.spark_warehouse_dir / "marts.db" / "fct_declarations" / f"month={ADDED_MONTH}-01"
    ).is_dir()
    with duckdb.connect(str(spark.published_db), read_only=True) as con:
        months = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT month FROM marts.fct_declarations ORDER BY 1"
            ).fetchall()
        ]
    assert months[-1] == month


def test_engine_settings_are_checked_at_start(tmp_path, monkeypatch):
    with pytest.raises(
        SettingsError, match="CUSTOMS_KPI_ENGINE='flink' must be one of: duckdb, spark"
    ):
        make_settings(tmp_path, CUSTOMS_KPI_ENGINE="flink")
    with pytest.raises(
        SettingsError, match="CUSTOMS_KPI_SPARK_CONF: 'spark.executor.memory' is not key=value"
    ):
        make_settings(
            tmp_path, CUSTOMS_KPI_SPARK_CONF="spark.sql.shuffle.partitions=4 spark.executor.memory"
        )
    for master in ("localhost:7077", "local[two]", "spark:/host:7077", "mesos://host:5050"):
        with pytest.raises(
            SettingsError,
            match=rf"CUSTOMS_KPI_SPARK_MASTER={re.escape(repr(master))} is not a Spark master URL",
        ):
            make_settings(tmp_path, CUSTOMS_KPI_SPARK_MASTER=master)
    for master in (
        "local",
        "local[2]",
        "local[*]",
        "local[*, 3]",
        "local-cluster[2, 1, 1024]",
        "spark://host-a:7077,host-b:7077",
        "yarn",
        "k8s://https://api.example.org:443",
    ):
        assert make_settings(tmp_path, CUSTOMS_KPI_SPARK_MASTER=master).spark_master == master
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SettingsError, match=r"CUSTOMS_KPI_ENGINE=spark needs Java 17"):
        make_settings(tmp_path, CUSTOMS_KPI_ENGINE="spark")


def test_spark_settings_come_from_the_defaults_then_the_conf_setting(tmp_path):
    settings = make_settings(
        tmp_path,
        CUSTOMS_KPI_ENGINE="spark",
        CUSTOMS_KPI_SPARK_MASTER="spark://host:7077",
        CUSTOMS_KPI_SPARK_CONF="spark.sql.shuffle.partitions=64 spark.executor.cores=4",
        CUSTOMS_KPI_LAKE_DIR=str(tmp_path / "shared"),
    )
    params = settings.spark_params()
    assert params["spark.master"] == "spark://host:7077"
    assert params["spark.sql.shuffle.partitions"] == "64" and params["spark.executor.cores"] == "4"
    assert params["spark.sql.session.timeZone"] == "UTC"
    assert settings.spark_warehouse_dir == tmp_path / "shared" / "spark-warehouse"
    assert settings.dbt_env()["CUSTOMS_KPI_DBT_TARGET"] == "spark"
    assert settings.dbt_env(engine="duckdb")["CUSTOMS_KPI_DBT_TARGET"] == "work"
    assert make_settings(tmp_path).dbt_env()["CUSTOMS_KPI_DBT_TARGET"] == "work"


@pytest.mark.slow
def test_switching_back_to_duckdb_rebuilds_in_full_and_matches(engines):
    """The Spark path leaves DuckDB's own models as empty shells: the next DuckDB build must be
    a full one (meta.build_engine), or the year-to-date of the earlier months would be lost."""
    duck, spark = engines
    back = make_settings(spark.data_dir)  # the same data dir, default engine
    run(back)
    assert compare_marts(str(duck.published_db), str(back.published_db)) == []
    with duckdb.connect(str(back.work_db), read_only=True) as con:
        assert con.execute("SELECT engine FROM meta.build_engine").fetchall() == [("duckdb",)]
