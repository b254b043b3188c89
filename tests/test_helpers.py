"""Small pure helpers: settings, build window, dbt arguments, generated docs, pseudonyms."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract import FEEDS, dbt_sources
from dagster_project.contract.docs import render
from dagster_project.months import parse_month
from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.months import add_months, months_between
from dagster_project.publish.pseudonym import demo_secret, pseudonym
from dagster_project.settings import PROJECT_ROOT, Settings, SettingsError
from dagster_project.transform.args import dbt_build_args
from dagster_project.transform.window import BuildWindow, build_window

M = date


def test_settings_defaults_and_overrides(tmp_path):
    s = Settings.from_env({})
    assert s.data_dir == (PROJECT_ROOT / "data").resolve()
    assert s.tz == "UTC" and s.secret is None and s.threads is None
    assert s.dagster_home_dir == s.data_dir / "dagster_home"
    assert s.published_db == s.data_dir / "marts" / "warehouse.duckdb"
    assert s.work_db != s.published_db

    s = Settings.from_env(
        {
            "CUSTOMS_KPI_DATA_DIR": str(tmp_path),
            "CUSTOMS_KPI_TZ": "Asia/Almaty",
            "CUSTOMS_KPI_THREADS": "2",
            "CUSTOMS_KPI_MEMORY_LIMIT": "3GB",
            "DAGSTER_HOME": str(tmp_path / "dh"),
        }
    )
    assert s.raw_dir == tmp_path / "raw" and s.tz == "Asia/Almaty"
    assert s.duckdb_config() == {
        "memory_limit": "3GB",
        "threads": "2",
        "temp_directory": str(tmp_path / "work" / "tmp"),
    }
    assert s.dagster_home_dir == tmp_path / "dh"
    assert Settings.from_env(s.as_env()) == s


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CUSTOMS_KPI_TZ": "Mars/Olympus"}, "not an IANA time zone"),
        ({"CUSTOMS_KPI_THREADS": "many"}, "is not a number"),
        ({"CUSTOMS_KPI_THREADS": "0"}, "at least 1"),
        (
            {"CUSTOMS_KPI_MEMORY_LIMIT": "lots"},
            r"CUSTOMS_KPI_MEMORY_LIMIT='lots' is not a DuckDB memory limit",
        ),
        (
            {"CUSTOMS_KPI_MEMORY_LIMIT": "100"},
            r"CUSTOMS_KPI_MEMORY_LIMIT='100' is not a DuckDB memory limit .*Unknown unit",
        ),
        ({"CUSTOMS_KPI_MEMORY_LIMIT": "150%"}, "CUSTOMS_KPI_MEMORY_LIMIT='150%'"),
        ({"CUSTOMS_KPI_MEMORY_LIMIT": "0%"}, "CUSTOMS_KPI_MEMORY_LIMIT='0%'"),
        (
            {"CUSTOMS_KPI_MEMORY_LIMIT": "-1GB"},
            r"CUSTOMS_KPI_MEMORY_LIMIT='-1GB' is not a DuckDB memory limit .*no limit at all",
        ),
        (
            {"CUSTOMS_KPI_ALERT_WEBHOOK": "hooks.example.org/x"},
            "CUSTOMS_KPI_ALERT_WEBHOOK=.* is not an http",
        ),
        ({"CUSTOMS_KPI_ALERT_WEBHOOK": "ftp://hooks.example.org/x"}, "is not an http"),
        (
            {"CUSTOMS_KPI_KEEP_QUALITY_RUNS": "0"},
            "CUSTOMS_KPI_KEEP_QUALITY_RUNS must be at least 1",
        ),
        ({"CUSTOMS_KPI_SCHEDULE_DAY": "31"}, "CUSTOMS_KPI_SCHEDULE_DAY='31' must be a day"),
        ({"CUSTOMS_KPI_DUE_DAY": "x"}, "CUSTOMS_KPI_DUE_DAY='x' must be a day"),
    ],
)
def test_bad_settings_are_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("name", ["CUSTOMS_KPI_DATA_DIR", "CUSTOMS_KPI_LAKE_DIR", "DAGSTER_HOME"])
def test_a_folder_setting_naming_a_file_is_a_clear_error(tmp_path, name):
    """Not a NotADirectoryError from deep in the run lock when the run starts."""
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    for value in (taken, taken / "below"):
        with pytest.raises(
            SettingsError, match=rf"{name}='.*' is not a directory: .*taken is a file"
        ):
            Settings.from_env({"CUSTOMS_KPI_DATA_DIR": str(tmp_path / "data"), name: str(value)})


@pytest.mark.parametrize("value", ["4GB", "1500MiB", "25%", "2 GB", "500mb"])
def test_memory_limits_in_duckdbs_forms_are_accepted(value):
    s = Settings.from_env({"CUSTOMS_KPI_MEMORY_LIMIT": value})
    assert s.duckdb_config()["memory_limit"] == s.dbt_env()["CUSTOMS_KPI_MEMORY_LIMIT"] == value


def test_settings_are_read_when_asked_not_at_import(monkeypatch, tmp_path):
    monkeypatch.setenv("CUSTOMS_KPI_DATA_DIR", str(tmp_path / "a"))
    first = Settings.from_env()
    monkeypatch.setenv("CUSTOMS_KPI_DATA_DIR", str(tmp_path / "b"))
    assert Settings.from_env().data_dir != first.data_dir


def test_month_helpers():
    assert parse_month("2024-03") == M(2024, 3, 1) == parse_month("2024-03-01")
    with pytest.raises(ValueError):
        parse_month("2024-13")
    assert add_months(M(2024, 12, 1), 1) == M(2025, 1, 1)
    assert add_months(M(2024, 1, 1), -1) == M(2023, 12, 1)
    assert months_between(M(2024, 11, 1), M(2025, 2, 1)) == [
        M(2024, 11, 1),
        M(2024, 12, 1),
        M(2025, 1, 1),
        M(2025, 2, 1),
    ]


def test_build_window_new_month_at_the_end():
    loaded = months_between(M(2024, 1, 1), M(2024, 12, 1))
    w = build_window([M(2024, 12, 1)], [M(2024, 11, 1), M(2024, 12, 1)], loaded)
    assert w == BuildWindow(M(2024, 11, 1), M(2025, 1, 1)) and w.months() == 2


def test_build_window_rerun_of_an_old_month_rebuilds_to_the_end():
    loaded = months_between(M(2024, 1, 1), M(2024, 12, 1))
    assert build_window([M(2024, 3, 1)], [], loaded) == BuildWindow(M(2024, 3, 1), M(2025, 1, 1))


def test_build_window_dirty_months_left_by_a_failed_run_are_included():
    loaded = months_between(M(2024, 1, 1), M(2024, 6, 1))
    assert build_window([M(2024, 6, 1)], [M(2024, 2, 1)], loaded).month_from == M(2024, 2, 1)
    assert build_window([], [], loaded) is None


def test_dbt_build_args_never_pass_vars():
    assert dbt_build_args() == ["build", "--exclude-resource-type", "unit_test"]
    assert dbt_build_args(full_refresh=True, threads=2)[-3:] == ["--full-refresh", "--threads", "2"]
    assert not any(a.startswith("--vars") for a in dbt_build_args(full_refresh=True))


def test_feed_docs_are_generated_from_the_contract():
    committed = (PROJECT_ROOT / "docs" / "feeds.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/feeds.md is stale: python -m dagster_project.contract.docs > docs/feeds.md"
    )
    for feed in FEEDS:
        assert f"### {feed.name}" in committed
        for col in feed.columns:
            assert f"| {col.name} |" in committed


def test_dbt_sources_are_generated_from_the_contract():
    committed = (PROJECT_ROOT / "dbt" / "models" / "staging" / "_sources.yml").read_text(
        encoding="utf-8"
    )
    assert committed == dbt_sources.render(), (
        "dbt/models/staging/_sources.yml is stale: "
        "python -m dagster_project.contract.dbt_sources > dbt/models/staging/_sources.yml"
    )


def test_dbt_sources_list_every_column_of_the_work_database():
    con = duckdb.connect()
    ensure_raw_schema(con)
    stored = {
        (schema, table): [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        ]
        for schema, table in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    for source in dbt_sources.sources():
        for table in source.tables:
            documented = [c.name for c in table.columns if not c.published_only]
            assert documented == stored[(source.name, table.name)], f"{source.name}.{table.name}"


def test_pseudonyms_are_keyed_and_stable(tmp_path: Path):
    a = pseudonym("k1", "000123")
    assert (
        a == pseudonym("k1", "000123")
        and a != pseudonym("k2", "000123")
        and a != pseudonym("k1", "000124")
    )
    assert "000123" not in a and len(a) == 32
    key = demo_secret(tmp_path / "key")
    assert demo_secret(tmp_path / "key") == key and len(key) == 64


def test_a_deleted_model_makes_the_manifest_stale(tmp_path, monkeypatch):
    """The asset graph's manifest is re-parsed when a model is removed, not only when one is
    edited: a folder's own change time counts."""
    import os
    import time

    from dagster_project.transform import project

    dbt_dir = tmp_path / "dbt"
    (dbt_dir / "models" / "marts").mkdir(parents=True)
    (dbt_dir / "dbt_project.yml").write_text("name: x\n")
    gone = dbt_dir / "models" / "marts" / "old_kpi.sql"
    gone.write_text("select 1\n")
    target = dbt_dir / "target"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    past = time.time() - 60
    for p in (gone, gone.parent, dbt_dir / "models", dbt_dir / "dbt_project.yml", dbt_dir):
        os.utime(p, (past, past))
    monkeypatch.setattr(project, "DBT_DIR", dbt_dir)
    assert not project.manifest_is_stale(target)
    gone.unlink()
    assert project.manifest_is_stale(target)


def test_a_dbt_command_outside_a_step_gets_its_own_target(tmp_path, monkeypatch):
    """The data dictionary's and the Spark read-back's dbt run on DuckDB even when the calling
    environment names another profile target."""
    monkeypatch.setenv("CUSTOMS_KPI_DBT_TARGET", "spark")
    monkeypatch.setenv("SOME_OTHER_VARIABLE", "kept")
    s = Settings.from_env({"CUSTOMS_KPI_DATA_DIR": str(tmp_path)})
    env = s.dbt_process_env(engine="duckdb")
    assert env["CUSTOMS_KPI_DBT_TARGET"] == "work" and env["SOME_OTHER_VARIABLE"] == "kept"
    # dbt runs in the work dir, where the profile's relative paths name the data dir's files
    assert Path(env["CUSTOMS_KPI_DBT_CWD"], env["CUSTOMS_KPI_WORK_DB"]) == s.work_db
    assert Path(env["CUSTOMS_KPI_DBT_CWD"], env["CUSTOMS_KPI_DUCKDB_TEMP_DIR"]) == s.duckdb_temp_dir
    assert s.dbt_docs_dir.parent == s.dbt_target_dir("duckdb").parent
