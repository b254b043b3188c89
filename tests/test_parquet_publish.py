"""The published Parquet set: versioned behind one link, equal to the warehouse, crash-safe.

One pipeline run (two months) is shared. The tests read `marts/parquet` the
way the docs tell readers to: resolve the link once, then read the version
folder it names. The crash test runs the publisher in a subprocess that
SIGKILLs itself at named points (CUSTOMS_KPI_TEST_KILL_AT, publish/publisher.py).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dagster_project.generate.synth import generate
from dagster_project.pipeline import run_pipeline
from dagster_project.publish.publisher import (
    KILL_AT_ENV,
    KILL_POINTS,
    PARQUET_POINTER,
    PARQUET_VERSIONS,
    PARTITIONED,
    VERSION_GRACE_SECONDS,
    open_published,
    publish,
)
from dagster_project.warehouse.db import work_db
from tests.conftest import make_settings, sha256

pytestmark = pytest.mark.slow

JUL, AUG = date(2024, 7, 1), date(2024, 8, 1)
SECRET = "test-secret"  # make_settings' key


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("parquet"))
    generate(
        settings.raw_dir, "2024-06", "2024-08", declarations_per_month=200, seed=7, tz=settings.tz
    )
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert outcome.success, (outcome.failures, out.getvalue())
    return settings


def resolved(settings) -> Path:
    pointer = settings.marts_dir / PARQUET_POINTER
    assert pointer.is_symlink(), f"{pointer} is not a link"
    return pointer.resolve()


def snapshot(version: Path) -> dict[str, tuple[int, str]]:
    """Every file of a version: relative path -> (inode, sha256)."""
    return {
        str(p.relative_to(version)): (p.stat().st_ino, sha256(p))
        for p in sorted(version.rglob("*"))
        if p.is_file()
    }


def sort_key(row):
    return tuple((v is None, v if v is not None else 0) for v in row)


def warehouse_rows(settings) -> dict[str, tuple[list[str], list[tuple]]]:
    with open_published(settings.published_db) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
                "AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]  # views (the evidence) have no Parquet
        out = {}
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE marts.{t}").fetchall()]
            out[t] = cols, sorted(con.execute(f"SELECT * FROM marts.{t}").fetchall(), key=sort_key)
    return out


def parquet_path(version: Path, table: str) -> Path:
    return version / table if table in PARTITIONED else version / f"{table}.parquet"


def duckdb_rows(version: Path, table: str, cols: list[str]) -> list[tuple]:
    path = parquet_path(version, table)
    source = (
        f"read_parquet('{path}/*/*.parquet', hive_partitioning = true)"
        if path.is_dir()
        else f"read_parquet('{path}')"
    )
    select = ", ".join(f'"{c}"' for c in cols)
    with duckdb.connect() as con:
        if path.is_dir():  # the partition column is typed by DuckDB's Hive type detection
            types = dict(
                (r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            )
            assert types[PARTITIONED[table]] == "DATE", types
        return sorted(con.execute(f"SELECT {select} FROM {source}").fetchall(), key=sort_key)


def pyarrow_rows(version: Path, table: str, cols: list[str]) -> list[tuple]:
    path = parquet_path(version, table)
    if path.is_dir():
        month = pa.schema([(PARTITIONED[table], pa.date32())])
        data = ds.dataset(
            path, format="parquet", partitioning=ds.partitioning(month, flavor="hive")
        ).to_table()
    else:
        data = pq.read_table(path)
    assert sorted(data.column_names) == sorted(cols), table
    return (
        sorted(zip(*(data.column(c).to_pylist() for c in cols)), key=sort_key)
        if data.num_rows
        else []
    )


def assert_parquet_is_the_warehouse(settings, version: Path | None = None) -> None:
    """Every published table, read from the Parquet set with DuckDB and with pyarrow, equals the
    same table in the published warehouse.duckdb, cell for cell."""
    version = version or resolved(settings)
    expected = warehouse_rows(settings)
    names = {p.name.removesuffix(".parquet") for p in version.iterdir()}
    assert names == set(expected), (names, set(expected))
    for table, (cols, rows) in expected.items():
        assert duckdb_rows(version, table, cols) == rows, f"{table} (duckdb)"
        assert pyarrow_rows(version, table, cols) == rows, f"{table} (pyarrow)"


def versions(settings) -> set[Path]:
    return {p.resolve() for p in (settings.marts_dir / PARQUET_VERSIONS).iterdir()}


def age(path: Path) -> None:
    """Make a version folder look replaced (or built) longer ago than the grace period."""
    past = time.time() - VERSION_GRACE_SECONDS - 60
    os.utime(path, (past, past))


def test_the_parquet_set_equals_the_warehouse_cell_for_cell(settings):
    version = resolved(settings)
    assert version.parent == (settings.marts_dir / PARQUET_VERSIONS).resolve()
    months = sorted(p.name for p in (version / "fct_declarations").iterdir())
    assert months == ["month=2024-06-01", "month=2024-07-01", "month=2024-08-01"]
    assert (version / "kpi_monthly.parquet").is_file()
    assert not list(settings.marts_dir.glob("*.parquet")), (
        "no Parquet file outside the version folder"
    )
    assert_parquet_is_the_warehouse(settings)


def test_a_run_of_one_month_rewrites_only_the_partitions_it_rebuilt(settings):
    before_version = resolved(settings)
    before = snapshot(before_version)
    outcome = run_pipeline(settings, month_from=AUG, month_to=AUG, out=io.StringIO())
    assert outcome.success, outcome.failures
    # the months dbt rebuilt: August, and July when August's lanes re-channel July's declarations
    with work_db(settings, read_only=True) as con:
        low, high = con.execute(
            "SELECT strftime(month_from, '%Y-%m'), strftime(month_to, '%Y-%m') FROM meta.build_window"
        ).fetchall()[0]
    rebuilt = {m for m in ("2024-06", "2024-07", "2024-08") if low <= m < high}
    assert "2024-08" in rebuilt and "2024-06" not in rebuilt, rebuilt
    after_version = resolved(settings)
    assert after_version != before_version
    after = snapshot(after_version)
    fct = {k: v for k, v in after.items() if k.startswith("fct_declarations/")}
    assert {k.split("/")[1] for k in fct} == {
        "month=2024-06-01",
        "month=2024-07-01",
        "month=2024-08-01",
    }
    old_inodes = {inode for inode, _ in before.values()}
    for name, (inode, digest) in fct.items():
        if name.split("/")[1][len("month=") :][:7] in rebuilt:  # written anew
            assert inode not in old_inodes, name
        else:  # the previous version's file, linked
            assert before[name] == (inode, digest), name
    assert before_version in versions(
        settings
    )  # the previous version stays for readers that resolved it
    assert_parquet_is_the_warehouse(settings)


def publish_in_subprocess(settings, kill_at: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMS_KPI_")}
    env.update(settings.as_env())
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    code = (
        "from dagster_project.publish.publisher import publish; from dagster_project.settings import Settings; "
        f"publish(Settings.from_env(), {SECRET!r})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def change_the_marts(settings) -> None:
    """New figures in the work database for the next publish to carry (July rebuilt)."""
    with work_db(settings) as con:
        con.execute("UPDATE marts.kpi_monthly SET value = value + 1 WHERE value IS NOT NULL")
        con.execute(
            "UPDATE marts.fct_declarations SET customs_value = customs_value + 1 WHERE month = ?",
            [JUL],
        )
        con.execute("INSERT INTO meta.unpublished_months VALUES (?, now())", [JUL])


def test_a_publish_killed_anywhere_shows_one_complete_set(settings):
    for point in KILL_POINTS:
        change_the_marts(settings)
        old_version = resolved(settings)
        old = snapshot(old_version)
        proc = publish_in_subprocess(settings, point)
        assert proc.returncode == -9, (point, proc.returncode, proc.stderr[-2000:])
        if point != "parquet-swapped":  # killed before the warehouse file was swapped in
            assert (
                list(settings.marts_dir.glob(".warehouse.*.duckdb.tmp"))
                or point == "warehouse-swapped"
            ), point
        now = resolved(settings)
        if now == old_version:  # the old set, untouched
            assert snapshot(now) == old, point
            assert point in ("parquet-partial", "parquet-written", "warehouse-swapped")
        else:  # the new set, complete
            assert point == "parquet-swapped"
            assert_parquet_is_the_warehouse(settings, now)
    current = resolved(settings)
    orphans = versions(settings) - {current}
    assert len(orphans) >= 4, (
        orphans
    )  # half-built versions of the killed publishes, and the previous one
    for path in orphans:  # long ago
        age(path)
    proc = publish_in_subprocess(settings, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_parquet_is_the_warehouse(settings)
    assert versions(settings) == {
        resolved(settings),
        current,
    }  # the new one and the one it replaced
    assert list(settings.marts_dir.glob(".*.tmp*")) == []


def test_leftovers_go_at_the_next_publish_but_not_what_a_reader_may_need(settings):
    marts = settings.marts_dir
    stale = [
        marts / ".warehouse.0123456789abcdef.duckdb.tmp",
        marts / ".warehouse.0123456789abcdef.duckdb.tmp.wal",
    ]
    for path in stale:
        path.write_bytes(b"left by a killed publish")
    (marts / ".parquet.0123456789abcdef.tmp").symlink_to(".parquet-versions/nowhere")
    half_built = marts / PARQUET_VERSIONS / "20000101T000000Z-deadbeef"
    (half_built / "fct_declarations").mkdir(parents=True)
    age(half_built)
    for path in versions(settings):
        age(path)
    first = resolved(settings)
    with open(first / "kpi_monthly.parquet", "rb") as reader:  # a reader holding a file of the set
        second = publish(settings, SECRET).parquet
        assert reader.read(4) == b"PAR1"
    assert second == resolved(settings)
    assert list(marts.glob(".*.tmp*")) == []
    assert versions(settings) == {first, second}  # the new one and the one it replaced
    assert_parquet_is_the_warehouse(settings)

    # two more publishes in a row (a held-back month publishes the ledger once per feed): the
    # first version, replaced seconds ago, stays for a reader that resolved the link before that
    third = publish(settings, SECRET, ledger_only=True).parquet
    fourth = publish(settings, SECRET, ledger_only=True).parquet
    assert versions(settings) == {first, second, third, fourth}
    for path in (first, second):
        age(path)
    fifth = publish(settings, SECRET, ledger_only=True).parquet
    assert versions(settings) == {third, fourth, fifth}
    assert_parquet_is_the_warehouse(settings)
