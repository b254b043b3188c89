"""What a delivery is: one definition shared by the loader, the sensor and status (real DuckDB, real Dagster)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context

from dagster_project.contract import FEEDS, feed_by_name
from dagster_project.ingest import loader as loader_module
from dagster_project.ingest.delivery import (
    CHANGED_WHILE_READ,
    EMPTY_FOLDER,
    NO_FOLDER,
    feed_month_delivery,
    survey_raw,
)
from dagster_project.ingest.files import FileFault
from dagster_project.ingest.loader import load_feed_month
from dagster_project.jobs import build_monthly_pipeline
from dagster_project.operations.sensors import build_raw_delivery_sensor, settle
from dagster_project.operations.status import collect_status, render_status
from dagster_project.partitions import monthly_partitions
from dagster_project.runtime import patched_environ
from dagster_project.settings import Settings, SettingsError
from tests.conftest import make_settings
from tests.feed_rows import CODE_SETS, MONTH, numbered, write_feed_file

TICKETS = feed_by_name("tickets")
FIRST = date(2020, 1, 1)


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    yield c
    c.close()


def load(con, raw_dir: Path, feed=TICKETS):
    return load_feed_month(con, feed, MONTH, raw_dir=raw_dir, tz="UTC", code_sets=CODE_SETS)


def tickets(n: int, first: int = 0) -> list[dict[str, str]]:
    return [numbered(TICKETS, i) for i in range(first, first + n)]


def state_of(con) -> tuple:
    return (
        con.execute("SELECT * FROM raw.tickets ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.load_audit ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.rejects ORDER BY ALL").fetchall(),
    )


def folder(raw_dir: Path) -> Path:
    return raw_dir / "tickets" / f"{MONTH:%Y-%m}"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- no delivery --------------------------------------------------------------------------------


def test_empty_folder_is_no_delivery_and_keeps_the_loaded_month(con, tmp_path):
    path = write_feed_file(tmp_path, TICKETS, tickets(3))
    load(con, tmp_path)
    before = state_of(con)
    path.unlink()
    assert feed_month_delivery(tmp_path, TICKETS, MONTH).state == EMPTY_FOLDER
    result = load(con, tmp_path)
    assert not result.delivered
    assert state_of(con) == before and len(before[0]) == 3


def test_folder_with_only_in_progress_copies_and_markers_is_no_delivery(con, tmp_path):
    write_feed_file(tmp_path, TICKETS, tickets(2))
    load(con, tmp_path)
    before = state_of(con)
    d = folder(tmp_path)
    (d / "extract.csv").rename(d / "extract.csv.part")
    (d / "_SUCCESS").write_text("")
    delivery = feed_month_delivery(tmp_path, TICKETS, MONTH)
    assert delivery.state == EMPTY_FOLDER and delivery.ignored == ("extract.csv.part",)
    assert not load(con, tmp_path).delivered
    assert state_of(con) == before
    assert feed_month_delivery(tmp_path, TICKETS, date(2024, 4, 1)).state == NO_FOLDER


# ---- partial deliveries -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".extract.csv", "b.csv.tmp", "b.csv.part", "b.csv.partial", "b.csv~", "B.CSV.TMP"])
def test_in_progress_copies_are_never_read(con, tmp_path, name):
    write_feed_file(tmp_path, TICKETS, tickets(2))
    (folder(tmp_path) / name).write_bytes(b"ticket_id,half a line")
    result = load(con, tmp_path)
    assert [f.file for f in result.files] == ["extract.csv"] and result.rows_accepted == 2


def test_any_other_entry_stays_a_file_fault(con, tmp_path):
    write_feed_file(tmp_path, TICKETS, tickets(2))
    (folder(tmp_path) / "notes.txt").write_text("hello")
    with pytest.raises(FileFault) as info:
        load(con, tmp_path)
    assert info.value.file == "notes.txt"


def test_a_file_that_changes_while_read_fails_the_month_and_changes_nothing(con, tmp_path, monkeypatch):
    """An exporter still appending to the file while DuckDB reads it: the month is not replaced."""
    write_feed_file(tmp_path, TICKETS, tickets(2))
    load(con, tmp_path)
    before = state_of(con)
    path = write_feed_file(tmp_path, TICKETS, tickets(3, first=10))
    real_inspect = loader_module.inspect_file

    def inspect_then_append(p, *args, **kwargs):  # the exporter writes more after the listing
        spec = real_inspect(p, *args, **kwargs)
        with p.open("a", encoding="utf-8") as fh:
            fh.write("T0001-99,INCIDENT,UNI-PASS export,2024-03-05 09:00,,\n")
        return spec

    monkeypatch.setattr(loader_module, "inspect_file", inspect_then_append)
    with pytest.raises(FileFault) as info:
        load(con, tmp_path)
    assert info.value.file == path.name and info.value.fault.startswith(CHANGED_WHILE_READ)
    assert "changed while being read: still being written?" in str(info.value)
    assert state_of(con) == before


# ---- completion markers -------------------------------------------------------------------------


def test_manifest_limits_the_delivery_to_its_files(con, tmp_path):
    a = write_feed_file(tmp_path, TICKETS, tickets(2), name="a.csv")
    write_feed_file(tmp_path, TICKETS, tickets(5, first=10), name="b.csv")  # not listed: still being copied
    (folder(tmp_path) / "_manifest.json").write_text(json.dumps({"files": [{"name": "a.csv", "sha256": sha(a)}]}))
    result = load(con, tmp_path)
    assert [f.file for f in result.files] == ["a.csv"] and result.rows_accepted == 2
    delivery = feed_month_delivery(tmp_path, TICKETS, MONTH)
    assert delivery.marker == "_manifest.json" and delivery.ignored == ("b.csv",)


def test_success_marker_with_sha256sum_lines(con, tmp_path):
    a = write_feed_file(tmp_path, TICKETS, tickets(2), name="a.csv")
    write_feed_file(tmp_path, TICKETS, tickets(5, first=10), name="b.csv")
    (folder(tmp_path) / "_SUCCESS").write_text(f"{sha(a)}  a.csv\n")
    assert [f.file for f in load(con, tmp_path).files] == ["a.csv"]


def test_empty_success_marker_takes_every_data_file(con, tmp_path):
    write_feed_file(tmp_path, TICKETS, tickets(2), name="a.csv")
    write_feed_file(tmp_path, TICKETS, tickets(5, first=10), name="b.csv")
    (folder(tmp_path) / "_SUCCESS").write_bytes(b"")
    assert [f.file for f in load(con, tmp_path).files] == ["a.csv", "b.csv"]


MARKER_FAULTS = {
    "listed-file-missing": (
        lambda d, a: (d / "_manifest.json").write_text(json.dumps({"files": [
            {"name": "a.csv", "sha256": sha(a)}, {"name": "c.csv", "sha256": "0" * 64}]})),
        "c.csv", "listed in _manifest.json but not in the folder"),
    "other-sha256": (
        lambda d, a: (d / "_manifest.json").write_text(json.dumps({"files": [{"name": "a.csv", "sha256": "ab" * 32}]})),
        "a.csv", "sha256 "),
    "success-other-sha256": (
        lambda d, a: (d / "_SUCCESS").write_text("cd" * 32 + "  a.csv\n"), "a.csv", "sha256 "),
    "manifest-not-json": (
        lambda d, a: (d / "_manifest.json").write_text("{files: a.csv}"), "_manifest.json", "not a manifest"),
    "success-bad-line": (
        lambda d, a: (d / "_SUCCESS").write_text("a.csv\n"), "_SUCCESS", "line 1 is not '<sha256>  <file name>'"),
}


@pytest.mark.parametrize("case", sorted(MARKER_FAULTS))
def test_marker_mismatch_is_a_file_fault_naming_the_file(con, tmp_path, case):
    make, file, message = MARKER_FAULTS[case]
    a = write_feed_file(tmp_path, TICKETS, tickets(2), name="a.csv")
    load(con, tmp_path)
    before = state_of(con)
    make(folder(tmp_path), a)
    with pytest.raises(FileFault) as info:
        load(con, tmp_path)
    assert info.value.file == file and info.value.fault.startswith(message), info.value
    assert state_of(con) == before


# ---- month folders, names and settings ---------------------------------------------------------


def test_survey_names_every_folder_it_does_not_read(tmp_path):
    for name in ("2025-1", "2025-13", "2025-02-extra", "2025-02", "2019-11", ".hidden"):
        (tmp_path / "drawback" / name).mkdir(parents=True)
    (tmp_path / "drawbacks" / "2025-02").mkdir(parents=True)
    survey = survey_raw(tmp_path, FIRST)
    assert survey.months["drawback"] == [date(2025, 2, 1)]
    text = "\n".join(survey.warnings)
    for name in ("raw/drawback/2025-1:", "raw/drawback/2025-13:", "raw/drawback/2025-02-extra:", "raw/drawbacks:"):
        assert name in text, text
    assert "raw/drawback/2019-11: before the first month 2020-01 (CUSTOMS_KPI_FIRST_MONTH)" in text
    assert ".hidden" not in text
    assert survey_raw(tmp_path, date(2019, 1, 1)).months["drawback"] == [date(2019, 11, 1), date(2025, 2, 1)]


@pytest.mark.parametrize(
    "name,value",
    [("CUSTOMS_KPI_FIRST_MONTH", "2019-1"), ("CUSTOMS_KPI_FIRST_MONTH", "2019-13"), ("CUSTOMS_KPI_FIRST_MONTH", "jan"),
     ("CUSTOMS_KPI_SETTLE_SECONDS", "-5"), ("CUSTOMS_KPI_SETTLE_SECONDS", "1.5"), ("CUSTOMS_KPI_SETTLE_SECONDS", "soon")],
)
def test_bad_delivery_settings_are_refused_by_name(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        make_settings(tmp_path, **{name: value})


def test_delivery_settings_defaults_and_values(tmp_path):
    s = make_settings(tmp_path)
    assert (s.first_month, s.settle_seconds) == (date(2020, 1, 1), 300)
    s = make_settings(tmp_path, CUSTOMS_KPI_FIRST_MONTH="2019-01", CUSTOMS_KPI_SETTLE_SECONDS="0")
    assert (s.first_month, s.settle_seconds) == (date(2019, 1, 1), 0)
    assert Settings.from_env(s.as_env()) == s


def test_cli_exits_2_naming_a_bad_first_month(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CUSTOMS_KPI_DATA_DIR": str(tmp_path), "CUSTOMS_KPI_FIRST_MONTH": "2019/01"}
    proc = subprocess.run([sys.executable, "-m", "dagster_project.cli", "status"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "CUSTOMS_KPI_FIRST_MONTH='2019/01'" in proc.stderr


def test_partitions_start_at_the_first_month():
    keys = monthly_partitions(date(2019, 1, 1)).get_partition_keys()
    assert keys[0] == "2019-01-01" and "2019-11-01" in keys


# ---- the sensor waits for a month to settle ----------------------------------------------------


def test_settle_is_pure():
    settled, seen = settle({"2024-03": "a"}, {}, now=1000.0, settle_seconds=300)
    assert settled == {} and seen == {"2024-03": ["a", 1000.0]}
    settled, seen = settle({"2024-03": "a"}, seen, now=1300.0, settle_seconds=300)
    assert settled == {"2024-03": "a"}
    settled, seen = settle({"2024-03": "b"}, seen, now=1400.0, settle_seconds=300)  # changed: clock restarts
    assert settled == {} and seen["2024-03"] == ["b", 1400.0]
    assert settle({"2024-03": "b"}, {}, now=5.0, settle_seconds=0)[0] == {"2024-03": "b"}


def deliver_every_feed(raw_dir: Path, month: date = MONTH) -> None:
    for feed in FEEDS:
        write_feed_file(raw_dir, feed, [numbered(feed, 1)], month=month)


def test_sensor_waits_until_the_content_has_settled(tmp_path):
    settings = make_settings(tmp_path, CUSTOMS_KPI_SETTLE_SECONDS="300")
    partitions = monthly_partitions(settings.first_month)
    sensor = build_raw_delivery_sensor(build_monthly_pipeline(partitions), partitions)
    instance = DagsterInstance.ephemeral()

    def evaluate(cursor):
        with patched_environ(settings.as_env()):
            result = sensor(build_sensor_context(instance=instance, cursor=cursor))
        return result

    deliver_every_feed(settings.raw_dir)
    (settings.raw_dir / "tickets" / "2024-04").mkdir()  # an empty folder never asks for a run
    result = evaluate(None)
    assert not result.run_requests
    assert "waiting for 2024-03 to settle" in result.skip_reason.skip_message
    assert "CUSTOMS_KPI_SETTLE_SECONDS=300" in result.skip_reason.skip_message

    # the same content seen long enough ago: the run starts (the cursor's clock, not a sleep)
    state = json.loads(result.cursor)
    state["seen"] = {m: [d, t - 301] for m, (d, t) in state["seen"].items()}
    assert set(state["seen"]) == {"2024-03"}
    result = evaluate(json.dumps(state))
    assert [r.partition_key for r in result.run_requests] == ["2024-03-01"]

    # a file appearing restarts the clock of its month
    write_feed_file(settings.raw_dir, TICKETS, tickets(2, first=50), name="more.csv")
    result = evaluate(result.cursor)
    assert not result.run_requests and "waiting for 2024-03" in result.skip_reason.skip_message

    # so does a copy in progress that is still growing, though it is never read
    state = json.loads(result.cursor)
    state["seen"] = {m: [d, t - 301] for m, (d, t) in state["seen"].items()}
    part = folder(settings.raw_dir) / "late.csv.part"
    part.write_text("ticket_id,ticket_type\n")
    result = evaluate(json.dumps(state))
    assert not result.run_requests and "waiting for 2024-03" in result.skip_reason.skip_message
    state = json.loads(result.cursor)
    state["seen"] = {m: [d, t - 301] for m, (d, t) in state["seen"].items()}
    with part.open("a") as fh:
        fh.write("T9,INCIDENT\n")
    result = evaluate(json.dumps(state))
    assert not result.run_requests


# ---- status -------------------------------------------------------------------------------------


def test_status_names_empty_folders_markers_and_misnamed_folders(tmp_path):
    settings = make_settings(tmp_path)
    deliver_every_feed(settings.raw_dir)
    (settings.raw_dir / "drawback" / "2024-03" / "extract.csv").unlink()
    (settings.raw_dir / "tickets" / "2024-03" / "late.csv.part").write_text("x")
    (settings.raw_dir / "tickets" / "2024-03" / "_SUCCESS").write_text("")
    (settings.raw_dir / "lanes" / "2024-3").mkdir()
    (settings.raw_dir / "unknown_feed").mkdir()
    warnings: list[str] = []
    items = {(i.feed, i.month): i for i in collect_status(settings, today=date(2024, 4, 5), warnings=warnings)}
    assert items[("drawback", MONTH)].state == "empty folder"
    assert items[("tickets", MONTH)].state == "not loaded"
    assert "ignored: late.csv.part" in items[("tickets", MONTH)].detail
    text = render_status(list(items.values()), warnings)
    assert "warning: raw/lanes/2024-3: folder is not a month folder" in text
    assert "warning: raw/unknown_feed: folder is not a feed of the contract" in text


# ---- on the real pipeline -----------------------------------------------------------------------

JUL = "2024-07"


def month_state(settings) -> dict[str, list]:
    """What the drawback feed's July is, in the work database and in the published warehouse."""
    m = f"DATE '{JUL}-01'"
    with duckdb.connect(str(settings.work_db), read_only=True) as work:
        out = {
            "raw": work.execute(f"SELECT * FROM raw.drawback WHERE _month = {m} ORDER BY ALL").fetchall(),
            "raw_audit": work.execute(f"SELECT * FROM raw.load_audit WHERE feed = 'drawback' AND month = {m} ORDER BY ALL").fetchall(),
            "raw_rejects": work.execute(f"SELECT * FROM raw.rejects WHERE feed = 'drawback' AND month = {m} ORDER BY ALL").fetchall(),
        }
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        for table in ("fct_declarations", "kpi_monthly", "trs_monthly"):
            out[table] = pub.execute(f"SELECT * FROM marts.{table} WHERE month = {m} ORDER BY ALL").fetchall()
        out["audit"] = pub.execute(f"SELECT * FROM marts.load_audit WHERE feed = 'drawback' AND month = {m} ORDER BY ALL").fetchall()
        out["rejects"] = pub.execute(f"SELECT * FROM marts.load_rejects WHERE feed = 'drawback' AND month = {m} ORDER BY ALL").fetchall()
    return out


def parquet_rows(settings) -> dict[str, list]:
    """Every row of the published Parquet files of the marts (all months)."""
    with duckdb.connect() as con:
        return {
            t: con.execute(f"SELECT * FROM read_parquet(?) ORDER BY ALL", [str(settings.marts_dir / f"{t}.parquet")]).fetchall()
            for t in ("fct_declarations", "kpi_monthly", "trs_monthly")
        }


@pytest.fixture(scope="module")
def emptied(tmp_path_factory):
    """Run, empty drawback's July folder (kept), add misnamed folders, run again."""
    import io

    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline

    settings = make_settings(tmp_path_factory.mktemp("emptied"))
    generate(settings.raw_dir, "2024-06", JUL, declarations_per_month=200, seed=5, tz=settings.tz,
             sample_formats=False, dirty=False)
    first = run_pipeline(settings, out=io.StringIO())
    assert first.success, first.failures
    before, parquet = month_state(settings), parquet_rows(settings)
    for f in (settings.raw_dir / "drawback" / JUL).iterdir():
        f.unlink()
    for name in ("2024-1", "2024-13", "2024-07-extra"):
        (settings.raw_dir / "drawback" / name).mkdir()
    (settings.raw_dir / "unknown_feed" / JUL).mkdir(parents=True)
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    return settings, before, parquet, outcome, out.getvalue()


@pytest.mark.slow
def test_emptied_month_folder_leaves_the_published_month_as_it_was(emptied):
    settings, before, parquet, outcome, output = emptied
    assert outcome.success, (outcome.failures, output)
    assert before["raw"] and before["fct_declarations"] and before["audit"]
    after = month_state(settings)
    for part in before:
        assert after[part] == before[part], part
    # the Parquet files hold the same rows for every month (their byte layout follows the incremental publish)
    assert parquet_rows(settings) == parquet


@pytest.mark.slow
def test_run_and_status_name_the_empty_and_misnamed_folders(emptied, capsys):
    from dagster_project.cli import main

    settings, _, _, outcome, output = emptied
    for name in ("raw/drawback/2024-1:", "raw/drawback/2024-13:", "raw/drawback/2024-07-extra:", "raw/unknown_feed:"):
        assert any(line.startswith("warning: " + name) for line in output.splitlines()), (name, output)
        assert any(name in w for w in outcome.warnings)
    status = {(i.feed, f"{i.month:%Y-%m}"): i for i in collect_status(settings)}
    assert status[("drawback", JUL)].state == "empty folder"
    assert status[("declarations", JUL)].state == "published"
    with patched_environ(settings.as_env()):
        rc = main(["status"])
    text = capsys.readouterr().out
    assert rc == 1  # a folder that is never read is a problem to fix
    assert any(line.startswith("drawback") and JUL in line and "empty folder" in line for line in text.splitlines()), text
    for name in ("raw/drawback/2024-1:", "raw/drawback/2024-13:", "raw/drawback/2024-07-extra:", "raw/unknown_feed:"):
        assert f"warning: {name}" in text, text


@pytest.mark.slow
def test_history_before_2020_loads_from_the_first_month_setting(tmp_path):
    import io

    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline

    settings = make_settings(tmp_path, CUSTOMS_KPI_FIRST_MONTH="2019-01")
    generate(settings.raw_dir, "2019-11", "2019-11", declarations_per_month=150, seed=3, tz=settings.tz,
             sample_formats=False, dirty=False)
    outcome = run_pipeline(settings, out=io.StringIO())
    assert outcome.success, outcome.failures
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        months = pub.execute("SELECT DISTINCT strftime(month, '%Y-%m') FROM marts.fct_declarations").fetchall()
    assert months == [("2019-11",)]

    # the default first month refuses the folders, by name, on the command line
    env = {**settings.as_env(), "PATH": "/usr/bin:/bin", "CUSTOMS_KPI_FIRST_MONTH": "2020-01"}
    proc = subprocess.run([str(Path(sys.executable).with_name("customs-kpi")), "run"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for feed in FEEDS:
        assert f"warning: raw/{feed.name}/2019-11: before the first month 2020-01 (CUSTOMS_KPI_FIRST_MONTH)" in proc.stdout, proc.stdout
