"""The corpus of bad deliveries (tests/corpus.py): each gets exactly the outcome the contract promises.

File and row faults go through the loader (`load_feed_month`); batch faults go
through the real Dagster pipeline (`run_pipeline`), since their outcome is
about checks and publishing.
"""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract import feed_by_name
from dagster_project.generate.synth import generate
from dagster_project.ingest.files import FileFault
from dagster_project.ingest.loader import load_feed_month
from dagster_project.pipeline import run_pipeline
from tests.conftest import make_settings
from tests.corpus import CASES, MONTH, REQUIRED, semicolons_decimal_commas, windows_1251_body
from tests.feed_rows import CODE_SETS, numbered, write_feed_file

ROOT = Path(__file__).resolve().parent.parent


def test_every_fault_kind_has_a_corpus_entry():
    names = [c.name.lower() for c in CASES]
    missing = [r for r in REQUIRED if not any(r in n for n in names)]
    assert missing == []


@pytest.mark.parametrize("case", [c for c in CASES if c.covered_by], ids=lambda c: c.name)
def test_covered_cases_point_to_an_existing_test(case):
    path, _, test = case.covered_by.partition("::")
    source = (ROOT / path).read_text(encoding="utf-8")
    assert f"def {test.split('[')[0]}(" in source, case.covered_by
    if "[" in test and "*" not in test:
        param = test.split("[", 1)[1].rstrip("]")
        assert param.split(":")[-1].split("-")[0] in source or param in source


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    yield c
    c.close()


LOADER_CASES = [c for c in CASES if c.build and c.kind in ("file", "row")]


@pytest.mark.parametrize("case", LOADER_CASES, ids=lambda c: c.name)
def test_loader_outcome(con, tmp_path, case):
    feed = feed_by_name(case.feed)
    case.build(tmp_path / feed.name / f"{MONTH:%Y-%m}")

    def load():
        return load_feed_month(con, feed, MONTH, raw_dir=tmp_path, tz="UTC", code_sets=CODE_SETS)

    if case.kind == "file":
        with pytest.raises(FileFault) as info:
            load()
        file, message = case.file_fault
        assert (info.value.file, info.value.fault[: len(message)]) == (file, message), (
            info.value.fault
        )
        assert str(info.value).startswith(f"{feed.name} {MONTH:%Y-%m}: file {file!r}: ")
        assert con.execute("SELECT count(*) FROM raw.load_audit").fetchall() == [(0,)]
        return
    result = load()
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == case.counts
    rejects = con.execute(
        "SELECT file, line, column_name, reason FROM raw.rejects ORDER BY file, line"
    ).fetchall()
    assert len(rejects) == len(case.rejects)
    for got, (file, line, column, reason) in zip(rejects, case.rejects):
        assert got[:3] == (file, line, column) and got[3].startswith(reason), got


# ---- batch faults through the pipeline -------------------------------------------------------------------

JUN, JUL = date(2024, 6, 1), date(2024, 7, 1)
KPI_TABLES = ("kpi_monthly", "fct_declarations", "trs_monthly")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("corpus_pipeline")
    settings = make_settings(data)
    generate(
        settings.raw_dir, "2024-06", "2024-07", declarations_per_month=300, seed=7, tz=settings.tz
    )
    outcome = run_pipeline(settings, out=io.StringIO())
    assert outcome.success, outcome.failures
    return settings


def published_tables(settings, tables=KPI_TABLES):
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall() for t in tables}


def accepted(settings, feed, month):
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        return con.execute(
            "SELECT sum(rows_accepted) FROM raw.load_audit WHERE feed = ? AND month = ?",
            [feed, month],
        ).fetchall()[0][0]


def replace_month(settings, feed_name, keep: Path) -> Path:
    """Move the delivered month folder aside (to restore it later) and return the empty folder."""
    folder = settings.raw_dir / feed_name / "2024-07"
    shutil.move(str(folder), str(keep / feed_name))
    folder.mkdir()
    return folder


def override(settings, monkeypatch, feed, by, reason):
    from dagster_project.cli import main

    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    with redirect_stdout(io.StringIO()):
        assert (
            main(["override", "--feed", feed, "--month", "2024-07", "--by", by, "--reason", reason])
            == 0
        )


def check_metadata(settings, run_id):
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(settings.dagster_home_dir)) as instance:
        records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        return {
            (
                e.dagster_event.event_specific_data.asset_key.path[-1],
                e.dagster_event.event_specific_data.check_name,
            ): e.dagster_event.event_specific_data
            for e in records
        }


@pytest.mark.slow
def test_batch_faults_are_loaded_recorded_and_held_back_until_fixed_or_overridden(
    world, tmp_path, monkeypatch
):
    settings = world
    before = published_tables(settings)
    keep = tmp_path / "originals"
    keep.mkdir()
    june = {f: accepted(settings, f, JUN) for f in ("declarations", "drawback", "manual")}

    # declarations re-delivered with a third of the rows; lanes then point at declarations that are gone
    decl = feed_by_name("declarations")
    replace_month(settings, "declarations", keep)
    rows = [
        numbered(
            decl,
            i,
            declaration_id=f"DX2407-{i}",
            arrival_at="2024-07-10 08:00",
            lodged_at="2024-07-10 09:00",
            released_at="2024-07-10 11:30",
        )
        for i in range(100)
    ]
    write_feed_file(settings.raw_dir, decl, rows, month=JUL, name="declarations_2024-07_resent.csv")
    # drawback exported by a spreadsheet: semicolons, decimal commas; manual: header only; tickets: a Windows-1251 file
    semicolons_decimal_commas(replace_month(settings, "drawback", keep))
    replace_month(settings, "manual", keep)
    write_feed_file(settings.raw_dir, feed_by_name("manual"), [], month=JUL, name="manual.csv")
    windows_1251_body(settings.raw_dir / "tickets" / "2024-07")

    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert not outcome.success
    # the file fault stops the run before dbt; the feed-months the gate withholds are named too
    # (the lanes now point at declarations that are gone)
    lanes_line = [
        f
        for f in outcome.failures
        if f.startswith("withheld: lanes 2024-07: quality suite failed: declaration_coverage = ")
    ]
    assert len(lanes_line) == 1, outcome.failures
    assert sorted(f for f in outcome.failures if f not in lanes_line) == sorted(
        [
            "tickets 2024-07: file 'tickets_1251.csv': not UTF-8: invalid byte sequence at line 3",
            "withheld: declarations 2024-07: quality suite failed: row_count_ratio = "
            f"{100 / june['declarations']:.4g}, expected between 0.5 and 2 "
            f"[100 rows vs median {june['declarations']} of 1 earlier month(s)]",
            # the drawback and manual histories are below the band's 50-row floor: only absolute bounds hold
            "withheld: drawback 2024-07: quality suite failed: row_count = 0, expected at least 1; "
            "reject_share = 1, expected between 0 and 0.15",
            "withheld: manual 2024-07: quality suite failed: row_count = 0, expected at least 1; warning: manual "
            "KPIs of the catalog missing: advance_rulings, aeo_acceptance_rating, aeo_benefits_provided, "
            "officer_deployments, service_commitments_published",
        ]
    ), (outcome.failures, out.getvalue())
    assert {c for c in outcome.failed_checks if "quality" in c} == {
        f"raw/{f}:quality (warn)" for f in ("declarations", "drawback", "manual", "lanes")
    }
    assert "FAILED, nothing published" in out.getvalue()

    # the file fault kept everything from being rebuilt: the published tables are as they were ...
    assert published_tables(settings) == before
    # ... and the quality results wait in the work database's ledger for the next publish
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        ledger = dict(
            con.execute(
                "SELECT feed, string_agg(DISTINCT quality_result, ',') FROM raw.load_audit "
                "WHERE month = DATE '2024-07-01' GROUP BY feed"
            ).fetchall()
        )
        rejects = con.execute(
            "SELECT count(*) FROM raw.rejects WHERE feed = 'drawback' "
            "AND month = DATE '2024-07-01' AND reason = 'not a decimal number'"
        ).fetchall()[0][0]
    assert ledger == {
        "declarations": "failed",
        "drawback": "failed",
        "manual": "failed",
        "lanes": "failed",
        "tickets": "passed",
        "aeo_register": "passed",
    }
    assert rejects == 6
    # the batches are in the raw layer, as delivered
    assert accepted(settings, "declarations", JUL) == 100

    # the check says what failed, observed vs threshold, a sample of rows, and links the Data Docs
    evaluations = check_metadata(settings, outcome.run_id)
    drawback = evaluations[("drawback", "quality")]
    assert not drawback.passed
    failed = drawback.metadata["failed_expectations"].data
    reject = [f for f in failed if f["expectation"] == "reject_share"][0]
    assert (reject["observed"], reject["max_value"], len(reject["sample"])) == (1.0, 0.15, 6)
    assert reject["sample"][0]["reason"] == "not a decimal number"
    docs = Path(drawback.metadata["data_docs"].path)
    assert docs.is_file() and docs.parent.name == outcome.run_id
    assert (docs.parent / "validations" / "drawback").is_dir()

    # an operator accepts the declarations; the Windows-1251 file is withdrawn. The lanes still fail:
    # most point at declarations that are not in the partial extract
    override(
        settings,
        monkeypatch,
        "declarations",
        "A. Operator",
        "partial extract confirmed by the clearance team",
    )
    (settings.raw_dir / "tickets" / "2024-07" / "tickets_1251.csv").unlink()
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert not outcome.success
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        coverage = con.execute(
            "SELECT avg((declaration_id IN (SELECT declaration_id FROM raw.declarations))::DOUBLE) "
            "FROM raw.lanes WHERE _month = DATE '2024-07-01'"
        ).fetchall()[0][0]
    # everything else is published; the run names each withheld feed-month and what it withheld
    assert sorted(f.split(":")[1].strip() for f in outcome.failures) == [
        "drawback 2024-07",
        "lanes 2024-07",
        "manual 2024-07",
    ], outcome.failures
    lanes_line = next(f for f in outcome.failures if f.startswith("withheld: lanes 2024-07"))
    assert (
        f"quality suite failed: declaration_coverage = {coverage:.4g}, expected between 0.9 and 1"
        in lanes_line
    )
    # the lane KPIs of July, and of June too: July's lane rows also name declarations of June
    assert (
        "-> 12 KPI value(s) withheld (2024-06: aeo_green_lane" in lanes_line
        and "2024-07: aeo_green_lane" in lanes_line
    )
    assert "published, except the KPI values of 3 withheld feed-month(s)" in out.getvalue()
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM marts.fct_declarations WHERE month = DATE '2024-07-01'"
        ).fetchall() == [(100,)]
        quality = dict(
            con.execute(
                "SELECT kpi_id, quality FROM marts.kpi_monthly WHERE month = DATE '2024-07-01'"
            ).fetchall()
        )
        withheld_values = con.execute(
            "SELECT count(*) FROM marts.kpi_monthly WHERE quality LIKE 'withheld%' "
            "AND (value IS NOT NULL OR n IS NOT NULL)"
        ).fetchall()[0][0]
        june_kpis = con.execute(
            "SELECT kpi_id, value, n FROM marts.kpi_monthly WHERE month = DATE '2024-06-01' "
            "AND quality = 'ok' ORDER BY ALL"
        ).fetchall()
    assert withheld_values == 0
    assert (
        quality["drawback_claims_aeo"]
        == "withheld: drawback 2024-07 failed row_count, reject_share"
    )
    assert quality["advance_rulings"] == "withheld: manual 2024-07 failed row_count"
    assert quality["aeo_red_lane"] == "withheld: lanes 2024-07 failed declaration_coverage"
    assert (
        quality["time_to_import_aeo"]
        == "override: A. Operator, partial extract confirmed by the clearance team"
    )
    assert quality["sla_timely_processing_rate"] == "ok"
    # what the faults of July do not touch is published as before
    june_before = {r[0]: (r[3], r[5]) for r in before["kpi_monthly"] if r[2] == date(2024, 6, 1)}
    changed = {
        k: (june_before[k], (v, n))
        for k, v, n in june_kpis  # doubles: summation order aside
        if june_before[k][1] != n
        or (v is None) != (june_before[k][0] is None)
        or (v is not None and june_before[k][0] != pytest.approx(v, rel=1e-9))
    }
    assert len(june_kpis) > 30 and not changed, changed

    # the lanes are accepted too, and the drawback and manual data are fixed: the run publishes
    override(
        settings, monkeypatch, "lanes", "A. Operator", "follows the partial declarations extract"
    )

    for name in ("drawback", "manual"):
        shutil.rmtree(settings.raw_dir / name / "2024-07")
        shutil.move(str(keep / name), str(settings.raw_dir / name / "2024-07"))
    outcome = run_pipeline(settings, out=io.StringIO())
    assert outcome.success, outcome.failures
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM marts.fct_declarations WHERE month = DATE '2024-07-01'"
        ).fetchall() == [(100,)]
        results = dict(
            con.execute(
                "SELECT feed, any_value(quality_result || ': ' || quality_note) FROM marts.load_audit "
                "WHERE month = DATE '2024-07-01' GROUP BY feed"
            ).fetchall()
        )
    assert results["declarations"].startswith("overridden: overridden by A. Operator at ")
    assert (
        "partial extract confirmed by the clearance team | quality suite failed: row_count_ratio"
        in results["declarations"]
    )
    assert results["lanes"].startswith("overridden: overridden by A. Operator")
    assert results["drawback"].startswith("passed") and results["manual"].startswith("passed")
