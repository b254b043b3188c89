"""Read-only consumers on a real run: never blocked, never half a month, old clients welcome.

While `customs-kpi run` publishes 2024-07 over a warehouse holding 2024-06,
the DuckDB 1.5 CLI and SQLAlchemy (duckdb_engine) query marts.kpi_monthly in
a loop, with a new connection per query and with one connection held open
(tests/bi_world.py). Every answer must be the complete old state or the
complete new state.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.bi_world import MONTHS, QUERY, READER_SCRIPT, cli_query

pytestmark = pytest.mark.slow


def test_the_run_publishes_while_readers_hold_the_file(bi_world):
    assert bi_world.run.returncode == 0, bi_world.run.stdout[-3000:] + bi_world.run.stderr[-3000:]
    assert "published" in bi_world.run.stdout
    held = [r for r in bi_world.readers if r.held]
    for r in held:  # they really were reading before, during and after the run
        assert any(o["t"] < bi_world.run_started for o in r.observations), r.name
        assert r.seen_after(bi_world.run_ended) >= 1, r.name


def test_no_reader_query_fails(bi_world):
    for r in bi_world.readers:
        errors = [o["error"] for o in r.observations if "error" in o]
        assert not errors, f"{r.name}: {errors[:3]}"
        assert len(r.observations) >= 3, r.name


def test_every_answer_is_a_complete_month_set_old_or_new(bi_world):
    old, new = bi_world.state(MONTHS[:1]), bi_world.state(MONTHS)
    for r in bi_world.readers:
        for o in r.observations:
            assert o["rows"] in (old, new), f"{r.name} saw a partial state: {o['rows']}"


def test_new_connections_move_from_old_to_new_exactly_once(bi_world):
    old, new = bi_world.state(MONTHS[:1]), bi_world.state(MONTHS)
    for r in bi_world.readers:
        if r.held:
            continue
        states = [o["rows"] == new for o in r.observations]
        assert states[0] is False and states[-1] is True, f"{r.name} did not overlap the publish"
        flip = states.index(True)
        assert all(states[flip:]), f"{r.name} saw the old state again after the new one"
        assert all(o["rows"] == old for o in r.observations if o["t"] < bi_world.run_started)
        assert all(o["rows"] == new for o in r.observations if o["t"] > bi_world.run_ended)


def test_a_held_connection_keeps_the_file_it_opened(bi_world):
    old = bi_world.state(MONTHS[:1])
    for r in bi_world.readers:
        if r.held:
            assert all(o["rows"] == old for o in r.observations), r.name


def test_a_new_connection_after_the_publish_sees_the_new_month(bi_world):
    db = bi_world.settings.published_db
    new = bi_world.state(MONTHS)
    rows = [[m, int(a), int(b)] for m, a, b in cli_query(db, QUERY)]
    assert rows == new
    proc = subprocess.run(
        [sys.executable, str(READER_SCRIPT), str(db), "--mode", "fresh", "--once"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout.splitlines()[0])
    assert first.get("rows") == new, first


def test_the_old_cli_reads_every_published_table_and_parquet_file(bi_world):
    settings = bi_world.settings
    tables = [r[0] for r in cli_query(settings.published_db, "SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'marts' ORDER BY 1")]
    assert {"fct_declarations", "kpi_catalog", "kpi_monthly", "trs_monthly", "load_audit"} <= set(tables)
    version = cli_query(settings.published_db, "SELECT version()")[0][0]
    assert version.startswith("v1.5"), version
    version = (settings.marts_dir / "parquet").resolve()  # resolve the link once, as docs/analysts.md says
    for t in tables:
        n_db = int(cli_query(settings.published_db, f"SELECT count(*) FROM marts.{t}")[0][0])
        parquet = version / f"{t}.parquet"
        if not parquet.is_file():  # a Hive-partitioned dataset, one folder per month
            parquet = f"{version / t}/*/*.parquet"
        n_pq = int(cli_query(settings.published_db, f"SELECT count(*) FROM read_parquet('{parquet}', hive_partitioning = true)")[0][0])
        assert n_db == n_pq, t
