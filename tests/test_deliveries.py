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
