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
from dagster_project.ingest.files import FileFault, ReadLimits
from dagster_project.ingest.loader import load_feed_month
from dagster_project.jobs import build_monthly_pipeline
from dagster_project.operations.sensors import build_raw_delivery_sensor, settle
from dagster_project.operations.status import collect_status, render_status
from dagster_project.partitions import monthly_partitions
from dagster_project.runtime import patched_environ
from dagster_project.settings import Settings, SettingsError
from tests.conftest import CLI, make_settings
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


@pytest.mark.parametrize(
    "name", [".extract.csv", "b.csv.tmp", "b.csv.part", "b.csv.partial", "b.csv~", "B.CSV.TMP"]
)
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


def test_a_file_that_changes_while_read_fails_the_month_and_changes_nothing(
    con, tmp_path, monkeypatch
):
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
    write_feed_file(
        tmp_path, TICKETS, tickets(5, first=10), name="b.csv"
    )  # not listed: still being copied
    (folder(tmp_path) / "_manifest.json").write_text(
        json.dumps({"files": [{"name": "a.csv", "sha256": sha(a)}]})
    )
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
        lambda d, a: (d / "_manifest.json").write_text(
            json.dumps(
                {
                    "files": [
                        {"name": "a.csv", "sha256": sha(a)},
                        {"name": "c.csv", "sha256": "0" * 64},
                    ]
                }
            )
        ),
        "c.csv",
        "listed in _manifest.json but not in the folder",
    ),
    "other-sha256": (
        lambda d, a: (d / "_manifest.json").write_text(
            json.dumps({"files": [{"name": "a.csv", "sha256": "ab" * 32}]})
        ),
        "a.csv",
        "sha256 ",
    ),
    "success-other-sha256": (
        lambda d, a: (d / "_SUCCESS").write_text("cd" * 32 + "  a.csv\n"),
        "a.csv",
        "sha256 ",
    ),
    "manifest-not-json": (
        lambda d, a: (d / "_manifest.json").write_text("{files: a.csv}"),
        "_manifest.json",
        "not a manifest",
    ),
    "success-bad-line": (
        lambda d, a: (d / "_SUCCESS").write_text("a.csv\n"),
        "_SUCCESS",
        "line 1 is not '<sha256>  <file name>'",
    ),
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
    for name in (
        "raw/drawback/2025-1:",
        "raw/drawback/2025-13:",
        "raw/drawback/2025-02-extra:",
        "raw/drawbacks:",
    ):
        assert name in text, text
    assert "raw/drawback/2019-11: before the first month 2020-01 (CUSTOMS_KPI_FIRST_MONTH)" in text
    assert ".hidden" not in text
    assert survey_raw(tmp_path, date(2019, 1, 1)).months["drawback"] == [
        date(2019, 11, 1),
        date(2025, 2, 1),
    ]


@pytest.mark.parametrize(
    "name,value",
    [
        ("CUSTOMS_KPI_FIRST_MONTH", "2019-1"),
        ("CUSTOMS_KPI_FIRST_MONTH", "2019-13"),
        ("CUSTOMS_KPI_FIRST_MONTH", "jan"),
        ("CUSTOMS_KPI_SETTLE_SECONDS", "-5"),
        ("CUSTOMS_KPI_SETTLE_SECONDS", "1.5"),
        ("CUSTOMS_KPI_SETTLE_SECONDS", "soon"),
    ],
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
    env = {
        "PATH": "/usr/bin:/bin",
        "CUSTOMS_KPI_DATA_DIR": str(tmp_path),
        "CUSTOMS_KPI_FIRST_MONTH": "2019/01",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
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
    settled, seen = settle(
        {"2024-03": "b"}, seen, now=1400.0, settle_seconds=300
    )  # changed: clock restarts
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
    items = {
        (i.feed, i.month): i
        for i in collect_status(settings, today=date(2024, 4, 5), warnings=warnings)
    }
    assert items[("drawback", MONTH)].state == "empty folder"
    assert items[("tickets", MONTH)].state == "not loaded"
    assert "ignored: late.csv.part" in items[("tickets", MONTH)].detail
    text = render_status(list(items.values()), warnings)
    assert "warning: raw/lanes/2024-3: folder is not a month folder" in text
    assert "warning: raw/unknown_feed: folder is not a feed of the contract" in text


# ---- every file read literally, every line counted, a .gz within limits -------------------------

ODD_NAMES = (
    "extra1.csv",
    "extra[1].csv",
    "x*.csv",
    "a?.csv",
    "{b,c}.csv",
    "b.csv",
    'it\'s "q".csv',
    "with space.csv",
    "ünïcödé 名前.csv",
    "[!e]xtra1.csv",
    "back\\slash.csv",
)


def test_every_file_is_read_literally_whatever_its_name(con, tmp_path):
    for i, name in enumerate(ODD_NAMES):
        write_feed_file(tmp_path, TICKETS, tickets(2, first=10 * i), name=name)
    write_feed_file(tmp_path, TICKETS, tickets(1, first=500), name="gz[1].csv.gz")
    result = load(con, tmp_path)
    assert sorted(f.file for f in result.files) == sorted((*ODD_NAMES, "gz[1].csv.gz"))
    assert all(
        (f.rows_read, f.rows_accepted, f.rows_rejected) == (f.rows_read, f.rows_read, 0)
        for f in result.files
    )
    loaded = dict(con.execute("SELECT ticket_id, _file FROM raw.tickets").fetchall())
    expected = {
        numbered(TICKETS, 10 * i + j)["ticket_id"]: name
        for i, name in enumerate(ODD_NAMES)
        for j in range(2)
    }
    expected[numbered(TICKETS, 500)["ticket_id"]] = "gz[1].csv.gz"
    assert (
        loaded == expected
    )  # each file's rows once, under its own name; no file read twice or never
    assert con.execute("SELECT count(*) FROM raw.rejects").fetchall() == [(0,)]


def test_parquet_with_a_pattern_in_its_name_is_read_literally(con, tmp_path):
    write_feed_file(tmp_path, TICKETS, tickets(1), name="t1.csv")
    other = folder(tmp_path) / "t[1].parquet"
    con.execute(
        "COPY (SELECT 'P1' AS ticket_id, 'INCIDENT' AS ticket_type, '2024-03-05 09:00' AS opened_at) "
        "TO ? (FORMAT parquet)",
        [str(other)],
    )
    (folder(tmp_path) / "t1.parquet").write_bytes(
        b"not parquet: read only if the pattern selects it"
    )
    with pytest.raises(
        FileFault, match="'t1.parquet'"
    ):  # a broken file of the delivery is still a fault
        load(con, tmp_path)
    (folder(tmp_path) / "t1.parquet").unlink()
    result = load(con, tmp_path)
    assert {f.file: f.rows_accepted for f in result.files} == {"t1.csv": 1, "t[1].parquet": 1}


LONG = 50 * 2**20  # past DuckDB's read buffer: a line this long left its scan without a word


@pytest.mark.parametrize("newline", [False, True], ids=["no-trailing-newline", "trailing-newline"])
def test_an_over_long_last_line_is_rejected_not_lost(con, tmp_path, newline):
    manual = feed_by_name("manual")
    month = folder(tmp_path).parent.parent / "manual" / f"{MONTH:%Y-%m}"
    month.mkdir(parents=True)
    (month / "long.csv").write_bytes(
        b"kpi_id,value,note\n" + b"x,1," + b"n" * LONG + (b"\n" if newline else b"")
    )
    result = load(con, tmp_path, manual)
    assert [(f.file, f.rows_read, f.rows_accepted, f.rows_rejected) for f in result.files] == [
        ("long.csv", 1, 0, 1)
    ]
    ((line, reason, text),) = con.execute(
        "SELECT line, reason, raw_text FROM raw.rejects"
    ).fetchall()
    assert line == 2 and reason.startswith(f"line too long ({LONG + 4:,} bytes; at most 2,000,000)")
    assert text.startswith("x,1,nnn") and len(text) < 2000


def test_over_long_lines_between_rows_keep_every_line_number(con, tmp_path):
    rows = tickets(4)
    write_feed_file(tmp_path, TICKETS, rows, name="t.csv")
    path = folder(tmp_path) / "t.csv"
    lines = path.read_bytes().split(b"\n")
    # line 3: longer than the reader's limit but inside its buffer; line 5: past the buffer
    lines.insert(2, b"T-mid,INCIDENT," + b"m" * (3 * 2**20))
    lines.insert(4, b"T-big,INCIDENT," + b"b" * LONG)
    path.write_bytes(b"\n".join(lines))
    result = load(con, tmp_path)
    assert [(f.rows_read, f.rows_accepted, f.rows_rejected) for f in result.files] == [(6, 4, 2)]
    assert con.execute(
        "SELECT line, left(reason, 14) FROM raw.rejects ORDER BY line"
    ).fetchall() == [(3, "line too long "), (5, "line too long ")]
    assert con.execute("SELECT ticket_id, _line FROM raw.tickets ORDER BY _line").fetchall() == [
        (rows[0]["ticket_id"], 2),
        (rows[1]["ticket_id"], 4),
        (rows[2]["ticket_id"], 6),
        (rows[3]["ticket_id"], 7),
    ]


def gzip_bomb(path: Path, expanded: int) -> None:
    import gzip

    block = b"T1,INCIDENT,2024-03-05 09:00\n" * (2**20 // 29)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"ticket_id,ticket_type,opened_at\n")
        for _ in range(expanded // len(block)):
            fh.write(block)


@pytest.mark.parametrize(
    "limits,fault",
    [
        (ReadLimits(gzip_ratio_floor=2**20), "gzip expands past the limit: more than"),
        (
            ReadLimits(gzip_max_bytes=2**20),
            "gzip expands past the limit: more than 1,048,576 bytes",
        ),
    ],
    ids=["ratio", "absolute-size"],
)
def test_gzip_expanding_past_its_limits_is_a_file_fault_naming_the_file(
    con, tmp_path, limits, fault
):
    write_feed_file(tmp_path, TICKETS, tickets(3), name="a.csv")
    load(con, tmp_path)
    before = state_of(con)
    gzip_bomb(folder(tmp_path) / "bomb.csv.gz", 40 * 2**20)
    compressed = (folder(tmp_path) / "bomb.csv.gz").stat().st_size
    assert compressed * limits.gzip_max_ratio < 40 * 2**20  # it is one
    with pytest.raises(FileFault) as info:
        load_feed_month(
            con, TICKETS, MONTH, raw_dir=tmp_path, tz="UTC", code_sets=CODE_SETS, limits=limits
        )
    assert info.value.file == "bomb.csv.gz" and info.value.fault.startswith(fault), info.value.fault
    assert "CUSTOMS_KPI_GZIP_MAX_RATIO" in info.value.fault
    assert state_of(con) == before


def test_gzip_within_its_limits_and_of_several_members_loads_whole(con, tmp_path):
    import gzip

    first, second = tickets(2), tickets(3, first=2)
    cols = TICKETS.column_names
    head = ",".join(cols) + "\n"
    body = lambda rows: "".join(",".join(r[c] for c in cols) + "\n" for r in rows)  # noqa: E731
    folder(tmp_path).mkdir(parents=True)
    (folder(tmp_path) / "m.csv.gz").write_bytes(
        gzip.compress((head + body(first)).encode()) + gzip.compress(body(second).encode())
    )
    result = load(con, tmp_path)
    assert [(f.rows_read, f.rows_accepted) for f in result.files] == [(5, 5)]


def test_read_limit_settings(tmp_path):
    s = make_settings(tmp_path)
    assert (s.read_limits.gzip_max_ratio, s.read_limits.gzip_max_bytes) == (100, 16 * 2**30)
    s = make_settings(tmp_path, CUSTOMS_KPI_GZIP_MAX_RATIO="20", CUSTOMS_KPI_GZIP_MAX_SIZE="500MB")
    assert (s.read_limits.gzip_max_ratio, s.read_limits.gzip_max_bytes) == (20, 500 * 10**6)
    assert Settings.from_env(s.as_env()) == s
    for name, value in (
        ("CUSTOMS_KPI_GZIP_MAX_RATIO", "0"),
        ("CUSTOMS_KPI_GZIP_MAX_RATIO", "lots"),
        ("CUSTOMS_KPI_GZIP_MAX_SIZE", "lots"),
        ("CUSTOMS_KPI_GZIP_MAX_SIZE", "100"),
    ):
        with pytest.raises(SettingsError, match=name):
            make_settings(tmp_path, **{name: value})


# ---- on the real pipeline -----------------------------------------------------------------------

JUL = "2024-07"


def month_state(settings) -> dict[str, list]:
    """What the drawback feed's July is, in the work database and in the published warehouse."""
    m = f"DATE '{JUL}-01'"
    with duckdb.connect(str(settings.work_db), read_only=True) as work:
        out = {
            "raw": work.execute(
                f"SELECT * FROM raw.drawback WHERE _month = {m} ORDER BY ALL"
            ).fetchall(),
            "raw_audit": work.execute(
                f"SELECT * FROM raw.load_audit WHERE feed = 'drawback' AND month = {m} ORDER BY ALL"
            ).fetchall(),
            "raw_rejects": work.execute(
                f"SELECT * FROM raw.rejects WHERE feed = 'drawback' AND month = {m} ORDER BY ALL"
            ).fetchall(),
        }
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        for table in ("fct_declarations", "kpi_monthly", "trs_monthly"):
            out[table] = pub.execute(
                f"SELECT * FROM marts.{table} WHERE month = {m} ORDER BY ALL"
            ).fetchall()
        out["audit"] = pub.execute(
            f"SELECT * FROM marts.load_audit WHERE feed = 'drawback' AND month = {m} ORDER BY ALL"
        ).fetchall()
        out["rejects"] = pub.execute(
            f"SELECT * FROM marts.load_rejects WHERE feed = 'drawback' AND month = {m} ORDER BY ALL"
        ).fetchall()
    return out


def parquet_rows(settings) -> dict[str, list]:
    """Every row of the published Parquet set of the marts (all months), through its documented path."""
    version = (settings.marts_dir / "parquet").resolve()
    sources = {
        "fct_declarations": f"read_parquet('{version}/fct_declarations/*/*.parquet', hive_partitioning = true)",
        "kpi_monthly": f"read_parquet('{version}/kpi_monthly.parquet')",
        "trs_monthly": f"read_parquet('{version}/trs_monthly.parquet')",
    }
    with duckdb.connect() as con:
        return {
            t: con.execute(f"SELECT * FROM {source} ORDER BY ALL").fetchall()
            for t, source in sources.items()
        }


@pytest.fixture(scope="module")
def emptied(tmp_path_factory):
    """Run, empty drawback's July folder (kept), add misnamed folders, run again."""
    import io

    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline

    settings = make_settings(tmp_path_factory.mktemp("emptied"))
    generate(
        settings.raw_dir,
        "2024-06",
        JUL,
        declarations_per_month=200,
        seed=5,
        tz=settings.tz,
        sample_formats=False,
        dirty=False,
    )
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
    for name in (
        "raw/drawback/2024-1:",
        "raw/drawback/2024-13:",
        "raw/drawback/2024-07-extra:",
        "raw/unknown_feed:",
    ):
        assert any(line.startswith("warning: " + name) for line in output.splitlines()), (
            name,
            output,
        )
        assert any(name in w for w in outcome.warnings)
    status = {(i.feed, f"{i.month:%Y-%m}"): i for i in collect_status(settings)}
    assert status[("drawback", JUL)].state == "empty folder"
    assert status[("declarations", JUL)].state == "published"
    with patched_environ(settings.as_env()):
        rc = main(["status"])
    text = capsys.readouterr().out
    assert rc == 1  # a folder that is never read is a problem to fix
    assert any(
        line.startswith("drawback") and JUL in line and "empty folder" in line
        for line in text.splitlines()
    ), text
    for name in (
        "raw/drawback/2024-1:",
        "raw/drawback/2024-13:",
        "raw/drawback/2024-07-extra:",
        "raw/unknown_feed:",
    ):
        assert f"warning: {name}" in text, text


@pytest.mark.slow
def test_history_before_2020_loads_from_the_first_month_setting(tmp_path):
    import io

    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline

    settings = make_settings(tmp_path, CUSTOMS_KPI_FIRST_MONTH="2019-01")
    generate(
        settings.raw_dir,
        "2019-11",
        "2019-11",
        declarations_per_month=150,
        seed=3,
        tz=settings.tz,
        sample_formats=False,
        dirty=False,
    )
    outcome = run_pipeline(settings, out=io.StringIO())
    assert outcome.success, outcome.failures
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        months = pub.execute(
            "SELECT DISTINCT strftime(month, '%Y-%m') FROM marts.fct_declarations"
        ).fetchall()
    assert months == [("2019-11",)]

    # the default first month refuses the folders, by name, on the command line
    env = {**settings.as_env(), "PATH": "/usr/bin:/bin", "CUSTOMS_KPI_FIRST_MONTH": "2020-01"}
    proc = subprocess.run(
        [str(CLI), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for feed in FEEDS:
        assert (
            f"warning: raw/{feed.name}/2019-11: before the first month 2020-01 (CUSTOMS_KPI_FIRST_MONTH)"
            in proc.stdout
        ), proc.stdout


@pytest.mark.slow
def test_odd_names_long_lines_and_a_gzip_bomb_on_the_real_pipeline(tmp_path):
    """One month split over files whose names are glob patterns loads each file once; a 50 MiB
    line is a reject; a .gz bomb in a later delivery fails that month and changes nothing published."""
    import io

    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline

    settings = make_settings(tmp_path)
    generate(
        settings.raw_dir,
        "2024-06",
        "2024-06",
        declarations_per_month=150,
        seed=3,
        tz=settings.tz,
        sample_formats=False,
        dirty=False,
    )
    month = settings.raw_dir / "declarations" / "2024-06"
    (original,) = month.iterdir()
    header, *rows = original.read_bytes().splitlines(keepends=True)
    original.unlink()
    (month / "part1.csv").write_bytes(header + b"".join(rows[:50]))
    (month / "part[1].csv").write_bytes(header + b"".join(rows[50:100]))
    (month / "part*.csv").write_bytes(header + b"".join(rows[100:]) + b"D-long,IM," + b"z" * LONG)
    outcome = run_pipeline(settings, out=io.StringIO())
    assert outcome.success, outcome.failures
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        assert pub.execute("SELECT count(*) FROM marts.fct_declarations").fetchall() == [
            (len(rows),)
        ]
        audit = pub.execute(
            "SELECT file, rows_read, rows_accepted, rows_rejected FROM marts.load_audit "
            "WHERE feed = 'declarations' ORDER BY file"
        ).fetchall()
        assert audit == [
            ("part*.csv", len(rows) - 99, len(rows) - 100, 1),
            ("part1.csv", 50, 50, 0),
            ("part[1].csv", 50, 50, 0),
        ]
        reason = pub.execute(
            "SELECT reason FROM marts.load_rejects WHERE feed = 'declarations'"
        ).fetchall()
        assert [r[0].split(" (")[0] for r in reason] == ["line too long"]
        published = pub.execute("SELECT * FROM marts.kpi_monthly ORDER BY ALL").fetchall()

    tickets_month = settings.raw_dir / "tickets" / "2024-06"
    gzip_bomb(
        tickets_month / "more.csv.gz", 120 * 2**20
    )  # 120 MiB of text from ~0.2 MiB: past 100 times its size
    outcome = run_pipeline(settings, out=io.StringIO())
    assert not outcome.success
    assert any(
        "more.csv.gz" in f and "gzip expands past the limit" in f for f in outcome.failures
    ), outcome.failures
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        assert pub.execute("SELECT * FROM marts.kpi_monthly ORDER BY ALL").fetchall() == published
