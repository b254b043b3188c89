"""The whole monthly pipeline through Dagster on generated data: load, check, dbt, publish."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from dagster_project.generate.synth import generate
from dagster_project.pipeline import run_pipeline
from dagster_project.report.render import write_report
from tests.conftest import make_settings, sha256

pytestmark = pytest.mark.slow

MONTHS = ("2024-06", "2024-07")
COMPARED = ("fct_declarations", "kpi_monthly", "trs_monthly")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("pipeline")
    settings = make_settings(data)
    generate(
        settings.raw_dir, MONTHS[0], MONTHS[1], declarations_per_month=300, seed=7, tz=settings.tz
    )
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert outcome.success, (outcome.failures, out.getvalue())
    return settings, outcome


def published(settings):
    return duckdb.connect(str(settings.published_db), read_only=True)


def test_publishes_every_table_for_both_months(world):
    settings, _ = world
    con = published(settings)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='marts' "
            "AND table_type = 'BASE TABLE'"
        ).fetchall()
    }
    assert {
        "fct_declarations",
        "load_audit",
        "load_rejects",
        "kpi_monthly",
        "trs_monthly",
        "kpi_catalog",
    } <= tables
    months = con.execute(
        "SELECT DISTINCT strftime(month, '%Y-%m') FROM marts.fct_declarations ORDER BY 1"
    ).fetchall()
    assert [m[0] for m in months] == list(MONTHS)
    audit = con.execute(
        "SELECT DISTINCT feed, strftime(month, '%Y-%m') FROM marts.load_audit"
    ).fetchall()
    assert len(audit) == 6 * len(MONTHS)
    parquet = (settings.marts_dir / "parquet").resolve()  # the version folder the link names
    for table in tables:
        assert (parquet / f"{table}.parquet").is_file() or (parquet / table).is_dir(), table


def test_every_row_read_is_accepted_or_rejected(world):
    settings, _ = world
    con = published(settings)
    unbalanced = con.execute(
        "SELECT * FROM marts.load_audit WHERE rows_read <> rows_accepted + rows_rejected"
    ).fetchall()
    assert unbalanced == []
    audit_rejects = con.execute("SELECT sum(rows_rejected) FROM marts.load_audit").fetchall()[0][0]
    assert (
        audit_rejects == con.execute("SELECT count(*) FROM marts.load_rejects").fetchall()[0][0] > 0
    )
    accepted = con.execute(
        "SELECT sum(rows_accepted) FROM marts.load_audit WHERE feed = 'declarations'"
    ).fetchall()[0][0]
    assert accepted == con.execute("SELECT count(*) FROM marts.fct_declarations").fetchall()[0][0]


def test_no_raw_trader_id_is_published(world):
    settings, _ = world
    with duckdb.connect(str(settings.work_db), read_only=True) as work:
        raw_ids = {
            r[0] for r in work.execute("SELECT DISTINCT trader_id FROM raw.declarations").fetchall()
        }
    con = published(settings)
    for table in ("fct_declarations", "load_rejects"):
        cols = [r[0] for r in con.execute(f"DESCRIBE marts.{table}").fetchall()]
        assert "trader_id" in cols or table == "load_rejects"
        if "trader_id" in cols:
            got = {
                r[0]
                for r in con.execute(f"SELECT DISTINCT trader_id FROM marts.{table}").fetchall()
            }
            assert got and not (got & raw_ids)


def test_runs_are_recorded_in_dagster_home(world):
    from dagster import DagsterInstance

    settings, outcome = world
    with DagsterInstance.from_config(str(settings.dagster_home_dir)) as instance:
        run = instance.get_run_by_id(outcome.run_id)
        assert run is not None and run.is_success
        assert run.tags["dagster/asset_partition_range_start"] == "2024-06-01"


def test_file_fault_fails_the_run_and_leaves_the_published_file_byte_identical(world):
    settings, _ = world
    before = sha256(settings.published_db)
    parquet_before = (settings.marts_dir / "parquet").resolve()
    kpi_before = sha256(parquet_before / "kpi_monthly.parquet")
    bad = settings.raw_dir / "tickets" / MONTHS[1] / "zz_broken.csv"
    bad.write_bytes("ticket_id,opened_at\nT1,2024-07-01 10:00\n".encode())
    try:
        outcome = run_pipeline(settings, out=io.StringIO())
        assert not outcome.success
        assert any(
            "tickets 2024-07: file 'zz_broken.csv': missing required column: ticket_type" in f
            for f in outcome.failures
        ), outcome.failures
        assert sha256(settings.published_db) == before
        assert (settings.marts_dir / "parquet").resolve() == parquet_before
        assert sha256(parquet_before / "kpi_monthly.parquet") == kpi_before
    finally:
        bad.unlink()


def test_rerun_of_one_month_equals_a_full_rebuild(world):
    """The world's run built both months from an empty warehouse: a full build. Re-running July
    (its files reloaded, its months rebuilt incrementally) must publish the same rows."""
    settings, _ = world
    con = published(settings)
    full = {t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall() for t in COMPARED}
    con.close()
    outcome = run_pipeline(
        settings, month_from=date(2024, 7, 1), month_to=date(2024, 7, 1), out=io.StringIO()
    )
    assert outcome.success, outcome.failures
    con = published(settings)
    for t, rows in full.items():
        assert con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall() == rows, t
    con.close()


def test_backfill_in_one_run_equals_month_by_month_runs(world, tmp_path):
    settings, _ = world
    monthly = make_settings(tmp_path)
    generate(
        monthly.raw_dir, MONTHS[0], MONTHS[1], declarations_per_month=300, seed=7, tz=monthly.tz
    )
    inodes = []
    for month in (date(2024, 6, 1), date(2024, 7, 1)):
        outcome = run_pipeline(monthly, month_from=month, month_to=month, out=io.StringIO())
        assert outcome.success, outcome.failures
        inodes.append(page_inodes(monthly))
    # This data dir's first build parsed only what changed since the world's build (same settings,
    # same checkout), not the whole project: the profile's paths are relative to the work dir.
    assert dbt_parses(monthly) == ["partial", "partial"]
    one_run, by_month = published(settings), published(monthly)
    for table in COMPARED:
        assert (
            one_run.execute(f"SELECT * FROM marts.{table} ORDER BY ALL").fetchall()
            == by_month.execute(f"SELECT * FROM marts.{table} ORDER BY ALL").fetchall()
        ), table
    one_run.close(), by_month.close()
    # The report after July's run made again the pages of the months that run's publish
    # rewrote, and carried the others over (the very files); every page is the page one run
    # over both months made.
    rewritten = {
        m[:7] for m in json.loads((monthly.marts_dir / ".publish.json").read_text())["months"]
    }
    assert MONTHS[1] in rewritten
    for page, inode in inodes[1].items():
        carried = inodes[0].get(page) == inode
        assert carried == (page.split("/")[0] not in rewritten), page
    assert explanation_pages(monthly) == explanation_pages(settings)
    # The report made again with no publish in between: every page carried over.
    write_report(monthly.published_db, monthly.marts_dir / "report")
    assert page_inodes(monthly) == inodes[1]
    # Without the record of what the pages were made from: every page made again.
    (monthly.marts_dir / "report" / ".explain-state.json").unlink()
    write_report(monthly.published_db, monthly.marts_dir / "report")
    assert not page_inodes(monthly).items() & inodes[1].items()
    assert explanation_pages(monthly) == explanation_pages(settings)


def dbt_parses(settings) -> list[str]:
    """How each `dbt build` of the data dir parsed the project: `full` or `partial` (dbt.log)."""
    parses = []
    for line in (settings.dbt_target_dir("duckdb") / "dbt.log").read_text().splitlines():
        name = json.loads(line)["info"]["name"] if line.startswith("{") else ""
        if name == "StateCheckVarsHash":
            parses.append("partial")
        elif name in ("UnableToPartialParse", "PartialParsingNotEnabled") and parses:
            parses[-1] = "full"
    return parses


def page_inodes(settings) -> dict[str, int]:
    root = settings.marts_dir / "report" / "explain"
    return {str(p.relative_to(root)): p.stat().st_ino for p in root.rglob("*.html")}


def explanation_pages(settings) -> dict[str, str]:
    """Every explanation page of the report, without the time it was generated at."""
    root = settings.marts_dir / "report" / "explain"
    return {
        str(p.relative_to(root)): re.sub(r"generated [^<]*? UTC", "", p.read_text())
        for p in sorted(root.rglob("*.html"))
    }


def test_dbt_keeps_its_run_state_in_the_data_dir(world):
    """dbt's run results, partial parse and logs of a run are the data dir's own: two data dirs
    (two administrations, or a test and a production tree) built at once on one checkout must
    not read each other's run results, nor the data dictionary copy the other's compiled SQL."""
    settings, _ = world
    target = settings.dbt_target_dir("duckdb")
    assert target.is_relative_to(settings.work_dir)
    results = json.loads((target / "run_results.json").read_text())
    assert results["args"]["which"] == "build"
    assert any(r["unique_id"] == "model.customs_kpi.kpi_monthly" for r in results["results"])
    compiled = json.loads((target / "manifest.json").read_text())["nodes"]
    assert "model.customs_kpi.kpi_monthly" in compiled
    assert (target / "partial_parse.msgpack").is_file()
    assert (target / "dbt.log").is_file()


# Run in a new interpreter, so that nothing is imported yet: `customs-kpi run` with a finder
# in front of the import system that notes every import made off the main thread. A script file,
# not `python -c`: pyspark, which Great Expectations imports, ends a process whose __main__ has
# no file (tests/conftest.py).
OFF_MAIN_IMPORTS = """
import json, sys, threading

class Watch:
    seen = []

    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            Watch.seen.append((threading.current_thread().name, name))
        return None

sys.meta_path.insert(0, Watch())
from dagster_project.cli import main

code = main(["run"])
print(json.dumps({"code": code, "off_main": Watch.seen[:20], "count": len(Watch.seen)}))
"""


def test_a_run_imports_every_module_on_its_own_thread(world, tmp_path):
    """A module imported on one thread while another thread uses its library can be seen half
    initialised: a run once failed so when Great Expectations was imported on a helper thread
    (to save time) while the run's thread used SQLAlchemy ("partially initialized module
    'sqlalchemy.orm.exc' has no attribute 'UnmappedClassError'"). Nothing imports beside the run."""
    settings, _ = world
    copy = make_settings(tmp_path / "data")
    shutil.copytree(settings.raw_dir, copy.raw_dir)
    script = tmp_path / "off_main_imports.py"
    script.write_text(OFF_MAIN_IMPORTS, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **copy.as_env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["code"] == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert found["count"] == 0, found["off_main"]
