"""Every figure traceable: each KPI value of the published warehouse recomputed from its evidence
records (marts.kpi_evidence), the views read by the DuckDB 1.5 CLI, and `customs-kpi explain`."""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import subprocess
from datetime import date

import duckdb
import pytest

from dagster_project.explain.evidence import kpi_specs
from dagster_project.generate.synth import generate
from dagster_project.pipeline import run_pipeline
from dagster_project.publish.publisher import open_published
from tests.bi_world import cli_query
from tests.evidence_check import recompute_every_kpi
from tests.conftest import CLI, make_settings

pytestmark = pytest.mark.slow

# 13 months, so that the change in active operators against a year earlier is defined for the last;
# a non-UTC zone so that months are cut in local time; a month without a lanes delivery and one
# without a drawback delivery, so that counts over a missing feed are null.
FIRST, LAST = "2024-01", "2025-01"
TZ = "Asia/Tashkent"
MISSING = (("lanes", "2024-05"), ("drawback", "2024-08"))
GROUP_VIEWS = (
    "aeo_lanes",
    "aeo_trade_share",
    "aeo_uptake",
    "clearance_cost",
    "drawback",
    "import_inspection",
    "manual",
    "paperless",
    "release_time",
    "sla",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("explain")
    settings = make_settings(data, CUSTOMS_KPI_TZ=TZ)
    generate(
        settings.raw_dir,
        FIRST,
        LAST,
        declarations_per_month=80,
        seed=11,
        tz=settings.tz,
        dirty=False,
    )
    for feed, month in MISSING:
        shutil.rmtree(settings.raw_dir / feed / month)
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert outcome.success, (outcome.failures, out.getvalue())
    return settings


def test_every_kpi_of_every_month_is_recomputed_from_its_evidence(world):
    published, seen_values = recompute_every_kpi(world.published_db)
    specs = kpi_specs()
    months = sorted({m for _, m in published})
    assert len(months) == 13 and len(published) == 13 * len(specs)
    # the world exercises every KPI: a value in some month (transit and random detection may be rare)
    assert {k for k in specs if not seen_values[k]} <= {
        "import_detection_rate_random",
        "time_to_transit_aeo",
    }
    jan = date(2025, 1, 1)
    assert published[("aeo_operators_change_pct", jan)][0] is not None
    assert (
        published[("aeo_operators_change_pct", date(2024, 12, 1))][0] is None
    )  # no year-earlier month
    for feed, month in MISSING:
        m = date.fromisoformat(month + "-01")
        for kpi_id, spec in specs.items():
            if feed in spec.feeds:
                assert published[(kpi_id, m)] == (None, None), (kpi_id, month)


def test_the_pages_top_records_are_those_the_pages_sql_lists_first(world):
    """The explanation pages keep each KPI's top records with a bounded aggregate; the query the
    page prints for an analyst (`records_sql`, a plain ORDER BY ... LIMIT) lists the same rows in
    the same order, for every KPI and month."""
    from dagster_project.explain.evidence import explain_all, records

    with open_published(world.published_db) as con:
        explanations = explain_all(con, 20)
        compared = 0
        for (kpi_id, month), e in sorted(explanations.items()):
            assert e.top == [tuple(r) for r in records(con, kpi_id, month, 20)], (kpi_id, month)
            compared += len(e.top)
    assert len(explanations) == 13 * len(kpi_specs())
    assert compared > 13 * 20 * 10  # most KPIs have more than 20 records in a month


def test_evidence_ids_are_pseudonymised_like_the_published_tables(world):
    with open_published(world.published_db) as con:
        operators = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT record_id FROM marts.kpi_evidence WHERE record_kind = 'operator'"
            ).fetchall()
        }
        published_ids = {
            r[0] for r in con.execute("SELECT trader_id FROM marts.fct_aeo_certificates").fetchall()
        }
        views = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE schema_name = 'marts' AND NOT internal"
            ).fetchall()
        }
    with duckdb.connect(str(world.work_db), read_only=True) as work:
        raw_ids = {
            r[0] for r in work.execute("SELECT DISTINCT trader_id FROM raw.aeo_register").fetchall()
        }
    assert operators and operators <= published_ids
    assert not operators & raw_ids
    assert views == {"kpi_evidence", *(f"kpi_evidence_{g}" for g in GROUP_VIEWS)}
    # views are published as views: no Parquet copy
    version = (world.marts_dir / "parquet").resolve()
    assert not any((version / f"{v}.parquet").exists() or (version / v).exists() for v in views)
    assert (version / "fct_drawback_claims.parquet").is_file()


def test_evidence_views_query_in_the_duckdb_15_cli_under_any_file_name(world, tmp_path):
    renamed = tmp_path / "minister_briefing.duckdb"
    shutil.copyfile(world.published_db, renamed)
    with open_published(world.published_db) as con:
        expected = dict(
            con.execute("SELECT kpi_id, count(*) FROM marts.kpi_evidence GROUP BY 1").fetchall()
        )
    got = {
        k: int(n)
        for k, n in cli_query(renamed, "SELECT kpi_id, count(*) FROM marts.kpi_evidence GROUP BY 1")
    }
    assert got == expected and len(got) > 30
    for group in GROUP_VIEWS:
        n = int(cli_query(renamed, f"SELECT count(*) FROM marts.kpi_evidence_{group}")[0][0])
        assert n > 0, group
    # attached under another alias, from a database that has a marts.fct_declarations of its own
    scratch = tmp_path / "scratch.duckdb"
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{scratch}' AS scratch (STORAGE_VERSION 'v1.0.0')")
        con.execute("CREATE SCHEMA scratch.marts")
        con.execute("CREATE TABLE scratch.marts.fct_declarations AS SELECT 1 AS x")
    sql = f"ATTACH '{renamed}' AS other (READ_ONLY); SELECT count(*) FROM other.marts.kpi_evidence_release_time"
    assert int(cli_query(scratch, sql)[-1][0]) == sum(
        v for k, v in expected.items() if k.startswith(("time_to_", "release", "pre_arrival"))
    )


def explain_cli(world, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CUSTOMS_KPI_DATA_DIR": str(world.data_dir),
        "CUSTOMS_KPI_SECRET": "test-secret",
        "CUSTOMS_KPI_TZ": TZ,
    }
    return subprocess.run(
        [str(CLI), "explain", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_explain_prints_the_value_recomputed_from_its_records(world):
    with open_published(world.published_db) as con:
        value, n = con.execute(
            "SELECT value, n FROM marts.kpi_monthly WHERE kpi_id = 'time_to_import_aeo' "
            "AND month = DATE '2024-10-01'"
        ).fetchall()[0]
    proc = explain_cli(world, "time_to_import_aeo", "--month", "2024-10", "--rows", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "definition:" in out and "formula:" in out and "mean of the measure" in out
    assert f"published:   value {value:.10g} · n {n}" in out
    assert f"recomputed:  value {value:.10g} · n {n}" in out
    assert f"{n} in the numerator, {n} in the denominator" in out
    assert "the records give the published value" in out
    assert "records (first 3," in out and out.count("  declaration  ") == 3
    assert "FROM marts.kpi_evidence" in out
    # a reading chosen where the definition left room
    lanes = explain_cli(world, "aeo_red_lane", "--month", "2024-05", "--rows", "0")
    assert lanes.returncode == 0, lanes.stderr
    assert "reading 1:  Counts that read two event feeds" in lanes.stdout
    assert (
        "published:   value null · n null" in lanes.stdout
        and "no delivery of declarations, lanes" in lanes.stdout
    )


def test_explain_refuses_an_unknown_kpi_and_an_unpublished_month(world):
    unknown = explain_cli(world, "time_to_import", "--month", "2024-10")
    assert (
        unknown.returncode == 2
        and "unknown KPI 'time_to_import'" in unknown.stderr
        and unknown.stdout == ""
    )
    later = explain_cli(world, "time_to_import_aeo", "--month", "2026-03")
    assert later.returncode == 2
    assert (
        "month 2026-03 is not published (marts.kpi_monthly holds 2024-01 to 2025-01)"
        in later.stderr
    )
    bad = explain_cli(world, "time_to_import_aeo", "--month", "2024-13")
    assert bad.returncode == 2 and "--month" in bad.stderr


def test_explain_writes_every_record_to_csv(world, tmp_path):
    out = tmp_path / "records.csv"
    proc = explain_cli(
        world, "aeo_trade_share_total", "--month", "2024-10", "--rows", "2", "--csv", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open_published(world.published_db) as con:
        value, n = con.execute(
            "SELECT value, n FROM marts.kpi_monthly WHERE kpi_id = 'aeo_trade_share_total' "
            "AND month = DATE '2024-10-01'"
        ).fetchall()[0]
    assert len(rows) == n > 2 and f"{n} record(s) written to {out}" in proc.stdout
    part = math.fsum(float(r["measure"]) for r in rows if r["in_numerator"] == "True")
    total = math.fsum(float(r["measure"]) for r in rows if r["in_denominator"] == "True")
    assert math.isclose(100 * part / total, value, rel_tol=1e-9)


def test_explain_names_a_csv_path_it_cannot_write(world, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    for path, why in ((taken / "records.csv", "Not a directory"), (tmp_path, "Is a directory")):
        proc = explain_cli(world, "aeo_trade_share_total", "--month", "2024-10", "--csv", str(path))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: --csv {path}: {why}"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_explain_says_loudly_when_the_records_do_not_give_the_published_value(world, tmp_path):
    data = tmp_path / "data"
    (data / "marts").mkdir(parents=True)
    shutil.copyfile(world.published_db, data / "marts" / "warehouse.duckdb")
    with duckdb.connect(str(data / "marts" / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE marts.kpi_monthly SET value = value + 0.5 "
            "WHERE kpi_id = 'time_to_import_aeo' AND month = DATE '2024-10-01'"
        )
    env = {
        **os.environ,
        "CUSTOMS_KPI_DATA_DIR": str(data),
        "CUSTOMS_KPI_SECRET": "test-secret",
        "CUSTOMS_KPI_TZ": TZ,
    }
    proc = subprocess.run(
        [str(CLI), "explain", "time_to_import_aeo", "--month", "2024-10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "MISMATCH" in proc.stdout and "do not give the published value" in proc.stderr


def test_the_readings_of_the_evidence_rules_are_those_of_docs_kpis_md():
    import re

    import yaml

    from dagster_project.explain.evidence import SPEC_FILE
    from dagster_project.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    section = text[text.index("## Readings we chose") :]
    documented = {
        int(n): title.rstrip(".")
        for n, title in re.findall(r"^(\d+)\. \*\*(.+?)\*\*", section, re.M)
    }
    readings = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))["readings"]
    assert readings and all(documented.get(int(n)) == r["title"] for n, r in readings.items()), (
        documented,
        readings,
    )
    used = {n for s in kpi_specs().values() for n, _, _ in s.readings}
    assert used == {int(n) for n in readings}
