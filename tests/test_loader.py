"""The raw loader against the feed contract: every feed, every fault kind, real DuckDB."""

from __future__ import annotations

import gzip
from datetime import date, datetime

import duckdb
import pytest

from dagster_project.contract import FEEDS, Column, Feed, feed_by_name
from dagster_project.ingest.files import CHUNK_BYTES, FileFault, mixed_line_ends
from dagster_project.ingest import loader
from dagster_project.ingest.loader import load_feed_month
from tests.feed_rows import CODE_SETS, MANUAL_KPIS, MONTH, VALID, numbered, write_feed_file

BAD_VALUES = {
    "int": ("1.5", "not an integer"),
    "decimal": ("1,5", "not a decimal number"),
    "bool": ("maybe", "not a boolean"),
    "timestamp": ("2024-13-45 25:00", "not an ISO 8601 timestamp"),
    "date": ("2024-02-30", "not a date"),
}
ANCHOR_ELSEWHERE = "2024-02-28 09:00"  # before every other timestamp of the valid rows


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    yield c
    c.close()


def load(con, raw_dir, feed: Feed, month: date = MONTH, tz: str = "UTC"):
    return load_feed_month(con, feed, month, raw_dir=raw_dir, tz=tz, code_sets=CODE_SETS)


def rows_of(feed: Feed, n: int, **overrides) -> list[dict[str, str]]:
    """n valid rows with distinct keys (for the manual feed: distinct kpi ids)."""
    out = []
    kpis = sorted(MANUAL_KPIS)
    for i in range(n):
        row = numbered(feed, i)
        if feed.name == "manual":
            row["kpi_id"] = kpis[i]
        out.append(row)
    return out


def column_faults(feed: Feed):
    for col in feed.columns:
        if col.required:
            yield f"{col.name}-missing", {col.name: ""}, col.name, "missing required value"
        if col.type in BAD_VALUES:
            bad, why = BAD_VALUES[col.type]
            yield f"{col.name}-unparsable", {col.name: bad}, col.name, why
        if col.type == "code":
            yield f"{col.name}-unknown-code", {col.name: "ZZZ"}, col.name, "code outside its set"
        if col.type == "country":
            yield f"{col.name}-unassigned", {col.name: "XX"}, col.name, "not an assigned ISO 3166-1"
        if col.pattern:
            yield f"{col.name}-pattern", {col.name: "12AB"}, col.name, "not 6-10 digits"
        if col.type == "int" and col.max_value is not None:
            yield (
                f"{col.name}-range",
                {col.name: str(int(col.max_value) + 5)},
                col.name,
                "out of range",
            )
        if col.type == "decimal" and not col.signed:
            yield f"{col.name}-negative", {col.name: "-1"}, col.name, "negative value"


def rule_faults(feed: Feed):
    row = VALID[feed.name]
    for rule in feed.rules:
        if rule.kind == "not_before":
            change = {rule.column: "2000-01-01 00:00"}
        elif rule.kind == "not_above":
            change = {rule.column: str(float(row[rule.other]) + 1)}
        elif rule.kind == "required_unless":
            change = {rule.column: ""}
        else:
            change = {rule.column: "", rule.other: rule.codes[0]}
        yield f"rule-{rule.kind}-{rule.column}", change, rule.column, rule.reason


def anchor_faults(feed: Feed):
    if feed.anchor:
        yield (
            "anchor-outside-month",
            {feed.anchor: ANCHOR_ELSEWHERE},
            feed.anchor,
            "anchor outside partition month",
        )


CASES = [
    pytest.param(feed, change, column, reason, id=f"{feed.name}:{case_id}")
    for feed in FEEDS
    for case_id, change, column, reason in [
        *column_faults(feed),
        *rule_faults(feed),
        *anchor_faults(feed),
    ]
]


@pytest.mark.parametrize("feed,change,column,reason", CASES)
def test_row_fault_goes_to_rejects_with_reason(con, tmp_path, feed, change, column, reason):
    rows = rows_of(feed, 3)
    rows[1].update(change)
    write_feed_file(tmp_path, feed, rows)
    result = load(con, tmp_path, feed)

    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    rejects = con.execute(
        "SELECT feed, month, file, line, column_name, reason, raw_text FROM raw.rejects"
    ).fetchall()
    assert len(rejects) == 1
    r_feed, r_month, r_file, r_line, r_col, r_reason, r_text = rejects[0]
    assert (r_feed, r_month, r_file, r_line, r_col) == (feed.name, MONTH, "extract.csv", 3, column)
    assert r_reason.startswith(reason), r_reason
    key = feed.key or "declaration_id"
    assert rows[1][key] in r_text
    assert con.execute(f"SELECT count(*) FROM {feed.raw_table}").fetchall()[0][0] == 2
    audit = con.execute(
        "SELECT rows_read, rows_accepted, rows_rejected FROM raw.load_audit"
    ).fetchall()
    assert audit == [(3, 2, 1)]


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.name)
def test_valid_rows_are_typed_per_contract(con, tmp_path, feed):
    write_feed_file(tmp_path, feed, rows_of(feed, 2))
    result = load(con, tmp_path, feed)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (2, 2, 0)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema='raw' AND table_name=?",
            [feed.name],
        ).fetchall()
    )
    for col in feed.columns:
        assert types[col.name] == col.sql_type.replace("INTEGER", "INTEGER")
    assert con.execute(f"SELECT DISTINCT _month FROM {feed.raw_table}").fetchall() == [(MONTH,)]


def test_fewer_and_more_fields_than_header(con, tmp_path):
    feed = feed_by_name("tickets")
    path = write_feed_file(tmp_path, feed, rows_of(feed, 2))
    text = path.read_text() + "T9,INCIDENT,sys\nT10,INCIDENT,sys,2024-03-05 09:00,,,surplus\n"
    path.write_text(text)
    result = load(con, tmp_path, feed)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    rejects = con.execute("SELECT line, reason, raw_text FROM raw.rejects ORDER BY line").fetchall()
    assert rejects[0][0] == 4 and rejects[0][1].startswith("fewer fields than the header (3 of 6)")
    assert rejects[0][2] == "T9,INCIDENT,sys"
    assert rejects[1][0] == 5 and rejects[1][1].startswith("more fields than the header (7 of 6)")


def test_line_numbers_after_parser_rejects_and_multiline_fields(con, tmp_path):
    feed = feed_by_name("tickets")
    rows = rows_of(feed, 4)
    rows[0]["system"] = "multi\nline; with, delimiters"
    path = write_feed_file(tmp_path, feed, rows)
    lines = path.read_text().split("\n")
    # insert a short line between the 2nd and 3rd record, and make the 4th record's id invalid
    text = (
        path.read_text()
        .replace("T0001-2,", "SHORT,row\nT0001-2,")
        .replace("T0001-3,", "T0001-3,BOGUS_TYPE_MARKER")
    )
    del lines
    path.write_text(
        text.replace("BOGUS_TYPE_MARKER", "", 1).replace("T0001-3,SERVICE_REQUEST", "T0001-3,NOPE")
    )
    load(con, tmp_path, feed)
    rejects = con.execute(
        "SELECT line, column_name, reason FROM raw.rejects ORDER BY line"
    ).fetchall()
    assert rejects == [
        (4, None, "fewer fields than the header (2 of 6)"),
        (6, "ticket_type", "code outside its set (SERVICE_REQUEST|INCIDENT|FAILURE)"),
    ]
    lines = con.execute(
        "SELECT ticket_id, _line, system FROM raw.tickets ORDER BY _line"
    ).fetchall()
    assert lines == [
        ("T0001-0", 2, "multi\nline; with, delimiters"),
        ("T0001-1", 3, "UNI-PASS export"),
        ("T0001-2", 5, "UNI-PASS export"),
    ]


def test_line_numbers_after_parser_rejects_across_many_blocks(con, tmp_path):
    """Record numbers are looked up in blocks of LINE_BLOCK rows: rejected lines at the start,
    on both sides of block edges, in a run and at the end shift every later row exactly."""
    from dagster_project.ingest.loader import LINE_BLOCK

    feed = feed_by_name("tickets")
    rows = rows_of(feed, 3 * LINE_BLOCK)
    path = write_feed_file(tmp_path, feed, rows)
    header, *records = path.read_text().rstrip("\n").split("\n")
    short_before = {
        0,
        LINE_BLOCK - 3,
        LINE_BLOCK - 2,
        LINE_BLOCK - 1,
        LINE_BLOCK,
        2 * LINE_BLOCK - 1,
    }
    short_before |= {2500, 2501, 2502, len(records) - 1}
    lines, expected, shorts = [header], {}, []
    for i, record in enumerate(records):
        if i in short_before:
            lines.append("SHORT,row")
            shorts.append(len(lines))
        lines.append(record)
        expected[rows[i]["ticket_id"]] = len(lines)
    lines.append("SHORT,row")  # after the last record too
    shorts.append(len(lines))
    path.write_text("\n".join(lines) + "\n")

    result = load(con, tmp_path, feed)
    assert result.files[0].rows_accepted == len(records)
    assert dict(con.execute("SELECT ticket_id, _line FROM raw.tickets").fetchall()) == expected
    assert [r[0] for r in con.execute("SELECT line FROM raw.rejects ORDER BY line").fetchall()] == (
        shorts
    )


def test_raw_rows_are_stored_in_file_and_line_order_across_row_groups(con, tmp_path):
    """The raw table holds a delivery's rows in file, then line order (the same files give the
    same table, row for row, with no sort): over several of DuckDB's row groups, on many threads, with parser
    rejects (their record-number lookup), row faults, a duplicate id and the checks of a code
    column against the 249 country codes (DuckDB turns a long IN list into a join, which hands
    rows on out of order)."""
    con.execute("SET threads = 8")
    feed = feed_by_name("declarations")
    rows = rows_of(feed, 600_000)
    rows[150_000]["partner_country"] = "XX"
    rows[200_000] = dict(rows[10])  # a duplicate of an earlier declaration of the same file
    path = write_feed_file(tmp_path, feed, rows[:580_000], name="a.csv")
    header, *records = path.read_text().rstrip("\n").split("\n")
    for i in (5, 130_000, 450_000):
        records.insert(i, "SHORT,row")
    path.write_text("\n".join([header, *records]) + "\n")
    write_feed_file(tmp_path, feed, rows[580_000:], name="b.csv")

    result = load(con, tmp_path, feed)
    assert [(f.rows_read, f.rows_rejected) for f in result.files] == [(580_003, 5), (20_000, 0)]
    stored = con.execute("SELECT _file, _line FROM raw.declarations ORDER BY rowid").fetchall()
    assert len(stored) == 600_000 - 2
    assert stored == sorted(stored)


def test_duplicate_ids_within_file_and_across_files(con, tmp_path):
    feed = feed_by_name("declarations")
    rows = rows_of(feed, 2)
    write_feed_file(tmp_path, feed, rows + [dict(rows[0], customs_value="999")], name="a.csv")
    write_feed_file(tmp_path, feed, [dict(rows[1]), numbered(feed, 7)], name="b.csv")
    result = load(con, tmp_path, feed)
    assert [(f.file, f.rows_read, f.rows_accepted, f.rows_rejected) for f in result.files] == [
        ("a.csv", 3, 2, 1),
        ("b.csv", 2, 1, 1),
    ]
    rejects = con.execute(
        "SELECT file, line, reason FROM raw.rejects ORDER BY file, line"
    ).fetchall()
    assert rejects == [
        ("a.csv", 4, "duplicate declaration_id (first at a.csv line 2)"),
        ("b.csv", 2, "duplicate declaration_id (first at a.csv line 3)"),
    ]
    # the first occurrence stands
    assert con.execute(
        "SELECT customs_value FROM raw.declarations WHERE declaration_id = 'D0001-0'"
    ).fetchall() == [(1500.5,)]


FEBRUARY = date(2024, 2, 1)


def write_february_copy(tmp_path, feed: Feed) -> date:
    """Deliver, for February 2024, a copy of the second of `rows_of(feed, n)` (id D0001-1)."""
    write_feed_file(
        tmp_path,
        feed,
        [numbered(feed, 1, lodged_at="2024-02-20 10:00", released_at="", arrival_at="")],
        month=FEBRUARY,
    )
    return FEBRUARY


def test_duplicate_of_an_earlier_month_is_rejected(con, tmp_path):
    feed = feed_by_name("declarations")
    feb = write_february_copy(tmp_path, feed)
    load(con, tmp_path, feed, feb)
    write_feed_file(tmp_path, feed, rows_of(feed, 3))
    result = load(con, tmp_path, feed)
    assert (result.rows_accepted, result.rows_rejected) == (2, 1)
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [
        ("duplicate declaration_id (already loaded for month 2024-02)",)
    ]


@pytest.mark.parametrize("bits", [None, 1], ids=["sized-filter", "every-key-suspect"])
def test_duplicates_keep_their_text_whichever_keys_the_filter_holds(
    con, tmp_path, monkeypatch, bits
):
    """The one scan keeps a line's text only for rows with a fault or a key in its bit filter
    (keys twice in the delivery, or loaded for an earlier month); only those rows are compared.
    A one-bit filter holds every key: the same rows stand, the same rejects keep their text."""
    if bits:
        monkeypatch.setattr(loader, "suspect_bits", lambda n: bits)
    feed = feed_by_name("declarations")
    feb = write_february_copy(tmp_path, feed)
    load(con, tmp_path, feed, feb)
    rows = rows_of(feed, 3)
    a = write_feed_file(tmp_path, feed, rows + [dict(rows[0], customs_value="999")], name="a.csv")
    b = write_feed_file(tmp_path, feed, [rows[2], numbered(feed, 7)], name="b.csv")
    result = load(con, tmp_path, feed)
    assert [(f.file, f.rows_accepted, f.rows_rejected) for f in result.files] == [
        ("a.csv", 2, 2),
        ("b.csv", 1, 1),
    ]
    lines = {"a.csv": a.read_text().splitlines(), "b.csv": b.read_text().splitlines()}
    rejects = con.execute(
        "SELECT file, line, reason, raw_text FROM raw.rejects WHERE month = ? ORDER BY file, line",
        [MONTH],
    ).fetchall()
    assert [r[:3] for r in rejects] == [
        ("a.csv", 3, "duplicate declaration_id (already loaded for month 2024-02)"),
        ("a.csv", 5, "duplicate declaration_id (first at a.csv line 2)"),
        ("b.csv", 2, "duplicate declaration_id (first at a.csv line 4)"),
    ]
    assert [r[3] for r in rejects] == [lines[f][line - 1] for f, line, _, _ in rejects]
    assert con.execute(
        "SELECT declaration_id, _file, _line FROM raw.declarations WHERE _month = ? ORDER BY rowid",
        [MONTH],
    ).fetchall() == [("D0001-0", "a.csv", 2), ("D0001-2", "a.csv", 4), ("D0001-7", "b.csv", 3)]


def test_loading_an_earlier_month_later_demotes_the_later_copy(con, tmp_path):
    feed = feed_by_name("declarations")
    write_feed_file(tmp_path, feed, rows_of(feed, 3))
    load(con, tmp_path, feed)
    feb = write_february_copy(tmp_path, feed)
    result = load(con, tmp_path, feed, feb)
    assert result.demoted_later_duplicates == 1
    assert MONTH in result.dirty_months
    months = con.execute(
        "SELECT declaration_id, _month FROM raw.declarations ORDER BY 1"
    ).fetchall()
    assert months == [("D0001-0", MONTH), ("D0001-1", feb), ("D0001-2", MONTH)]
    audit = con.execute(
        "SELECT month, rows_read, rows_accepted, rows_rejected FROM raw.load_audit ORDER BY month"
    ).fetchall()
    assert audit == [(feb, 1, 1, 0), (MONTH, 3, 2, 1)]
    assert con.execute("SELECT month, line, reason FROM raw.rejects").fetchall() == [
        (MONTH, 3, "duplicate declaration_id (already loaded for month 2024-02)")
    ]


def test_manual_second_row_for_same_kpi_in_month(con, tmp_path):
    feed = feed_by_name("manual")
    rows = rows_of(feed, 2) + [dict(rows_of(feed, 1)[0], value="99")]
    write_feed_file(tmp_path, feed, rows)
    load(con, tmp_path, feed)
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [
        ("duplicate kpi_id (first at extract.csv line 2)",)
    ]


def test_snapshot_ids_repeat_across_snapshots(con, tmp_path):
    feed = feed_by_name("aeo_register")
    for month in (date(2024, 2, 1), MONTH):
        write_feed_file(tmp_path, feed, rows_of(feed, 2), month=month)
        result = load(con, tmp_path, feed, month)
        assert result.rows_rejected == 0
    assert con.execute("SELECT count(*) FROM raw.aeo_register").fetchall() == [(4,)]


def test_load_is_idempotent(con, tmp_path):
    feed = feed_by_name("declarations")
    rows = rows_of(feed, 3)
    rows[2]["partner_country"] = "XX"
    write_feed_file(tmp_path, feed, rows)

    def snapshot():
        return (
            con.execute(
                "SELECT * EXCLUDE (_loaded_at) FROM raw.declarations ORDER BY ALL"
            ).fetchall(),
            con.execute("SELECT * EXCLUDE (loaded_at) FROM raw.rejects ORDER BY ALL").fetchall(),
            con.execute("SELECT * EXCLUDE (loaded_at) FROM raw.load_audit ORDER BY ALL").fetchall(),
        )

    load(con, tmp_path, feed)
    first = snapshot()
    load(con, tmp_path, feed)
    assert snapshot() == first


def test_redelivery_with_fewer_rows_replaces_the_month(con, tmp_path):
    feed = feed_by_name("drawback")
    path = write_feed_file(tmp_path, feed, rows_of(feed, 3))
    load(con, tmp_path, feed)
    path.unlink()
    write_feed_file(tmp_path, feed, rows_of(feed, 1), name="redelivery.csv")
    load(con, tmp_path, feed)
    assert con.execute("SELECT claim_id, _file FROM raw.drawback").fetchall() == [
        ("C0001-0", "redelivery.csv")
    ]
    assert con.execute("SELECT file, rows_read FROM raw.load_audit").fetchall() == [
        ("redelivery.csv", 1)
    ]


# ---- formats ------------------------------------------------------------------------------------


def test_semicolon_bom_crlf_and_header_case(con, tmp_path):
    feed = feed_by_name("lanes")
    rows = rows_of(feed, 2)
    rows[0]["rule_id"] = "R;1"
    header = [c.upper() if i % 2 else f"  {c} " for i, c in enumerate(feed.column_names)]
    path = write_feed_file(
        tmp_path, feed, [], delimiter=";", newline="\r\n", bom=True, columns=header
    )
    body = "".join(
        ";".join(f'"{r[c]}"' if ";" in r[c] else r[c] for c in feed.column_names) + "\r\n"
        for r in rows
    )
    path.write_bytes(path.read_bytes() + body.encode())
    result = load(con, tmp_path, feed)
    assert (result.rows_read, result.rows_rejected) == (2, 0)
    assert con.execute("SELECT rule_id FROM raw.lanes ORDER BY _line").fetchall() == [
        ("R;1",),
        ("R17",),
    ]


def test_gzip_and_parquet_and_extra_columns(con, tmp_path):
    feed = feed_by_name("tickets")
    write_feed_file(
        tmp_path, feed, rows_of(feed, 2), name="a.csv.gz", columns=feed.column_names + ["Comment"]
    )
    parquet = tmp_path / "tickets" / "2024-03" / "b.parquet"
    row = numbered(feed, 5)
    select = ", ".join(f"'{v}' AS {k}" for k, v in row.items() if v)
    con.execute(f"COPY (SELECT {select}) TO '{parquet}' (FORMAT parquet)")
    result = load(con, tmp_path, feed)
    assert [(f.file, f.rows_read, f.rows_accepted, f.notes) for f in result.files] == [
        ("a.csv.gz", 2, 2, ["ignored extra columns: Comment"]),
        ("b.parquet", 1, 1, []),
    ]
    assert con.execute("SELECT notes FROM raw.load_audit WHERE file = 'a.csv.gz'").fetchall() == [
        ("ignored extra columns: Comment",)
    ]


def test_header_only_file_is_an_empty_delivery(con, tmp_path):
    feed = feed_by_name("tickets")
    write_feed_file(tmp_path, feed, [])
    result = load(con, tmp_path, feed)
    assert result.delivered and (result.rows_read, result.rows_accepted) == (0, 0)
    assert con.execute("SELECT rows_read FROM raw.load_audit").fetchall() == [(0,)]


def test_no_folder_is_no_delivery(con, tmp_path):
    result = load(con, tmp_path, feed_by_name("tickets"))
    assert not result.delivered and result.files == []


# ---- time zones and month boundaries -------------------------------------------------------------


def test_offsets_to_utc_and_naive_in_administration_zone(con, tmp_path):
    feed = feed_by_name("tickets")
    rows = rows_of(feed, 4)
    rows[0].update(
        opened_at="2024-03-05T09:00:00+05:00", due_at="", ticket_type="INCIDENT", resolved_at=""
    )
    rows[1].update(opened_at="2024-03-05 09:00", due_at="", ticket_type="INCIDENT", resolved_at="")
    rows[2].update(opened_at="2024-03-05T04:00Z", due_at="", ticket_type="INCIDENT", resolved_at="")
    rows[3].update(
        opened_at="2024-02-29 23:30", due_at="", ticket_type="INCIDENT", resolved_at=""
    )  # local Feb in Almaty
    write_feed_file(tmp_path, feed, rows)
    load(con, tmp_path, feed, tz="Asia/Almaty")
    got = con.execute("SELECT ticket_id, opened_at FROM raw.tickets ORDER BY ticket_id").fetchall()
    # Almaty is UTC+5 from 2024-03-01 (it was UTC+6 before)
    assert got == [
        ("T0001-0", datetime(2024, 3, 5, 4, 0)),
        ("T0001-1", datetime(2024, 3, 5, 4, 0)),
        ("T0001-2", datetime(2024, 3, 5, 4, 0)),
    ]
    assert con.execute("SELECT line, reason FROM raw.rejects").fetchall() == [
        (5, "anchor outside partition month")
    ]


@pytest.mark.parametrize(
    "tz,opened_at,in_march",
    [
        ("UTC", "2024-03-31 23:59:59", True),
        ("UTC", "2024-04-01 00:00:00", False),
        ("UTC", "2024-03-01 00:00:00", True),
        ("UTC", "2024-02-29 23:59:59", False),
        ("Asia/Almaty", "2024-03-31T19:30:00Z", False),  # 00:30 on 1 April in Almaty
        (
            "Asia/Almaty",
            "2024-02-29T18:30:00Z",
            False,
        ),  # 23:30 on 29 February (UTC+5 from that instant)
        ("Asia/Almaty", "2024-02-29T19:30:00Z", True),  # 00:30 on 1 March
    ],
)
def test_month_boundaries_in_local_time(con, tmp_path, tz, opened_at, in_march):
    feed = feed_by_name("tickets")
    rows = rows_of(feed, 1)
    rows[0].update(opened_at=opened_at, ticket_type="INCIDENT", due_at="", resolved_at="")
    write_feed_file(tmp_path, feed, rows)
    result = load(con, tmp_path, feed, tz=tz)
    assert result.rows_accepted == (1 if in_march else 0)


# ---- file-level faults: one message, nothing changed --------------------------------------------


def _good_then(con, tmp_path, feed, make_fault):
    write_feed_file(tmp_path, feed, rows_of(feed, 2), name="a.csv")
    load(con, tmp_path, feed)
    before = (
        con.execute(f"SELECT * FROM {feed.raw_table} ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.load_audit ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.rejects ORDER BY ALL").fetchall(),
    )
    make_fault(tmp_path / feed.name / "2024-03")
    with pytest.raises(FileFault) as info:
        load(con, tmp_path, feed)
    after = (
        con.execute(f"SELECT * FROM {feed.raw_table} ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.load_audit ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM raw.rejects ORDER BY ALL").fetchall(),
    )
    assert after == before
    return info.value


def _header(feed: Feed) -> str:
    return ",".join(feed.column_names)


FILE_FAULTS = {
    "latin1": (
        lambda d: (d / "b.csv").write_bytes(
            (
                "ticket_id,ticket_type,opened_at\nT1,INCIDENT,2024-03-05 09:00\nT2,INCIDENT,caf\xe9\n"
            ).encode("latin-1")
        ),
        "b.csv",
        "not UTF-8: invalid byte sequence at line 3",
    ),
    "utf16": (
        lambda d: (d / "b.csv").write_bytes("ticket_id,ticket_type,opened_at\n".encode("utf-16")),
        "b.csv",
        "not UTF-8: the file is UTF-16/UTF-32 encoded",
    ),
    "zero-bytes": (lambda d: (d / "b.csv").write_bytes(b""), "b.csv", "empty file: zero bytes"),
    "blank-header": (
        lambda d: (d / "b.csv").write_text("\n\n"),
        "b.csv",
        "empty file: no header row",
    ),
    "missing-required-column": (
        lambda d: (d / "b.csv").write_text("ticket_id,opened_at\nT1,2024-03-05 09:00\n"),
        "b.csv",
        "missing required column: ticket_type",
    ),
    "open-quote": (
        lambda d: (d / "b.csv").write_text(
            'ticket_id,ticket_type,opened_at\nT1,"INCIDENT,2024-03-05 09:00\nT2,INCIDENT,2024-03-05 09:00\n'
        ),
        "b.csv",
        "a quote opened at line 2 is never closed",
    ),
    "truncated-gz": (
        lambda d: (d / "b.csv.gz").write_bytes(
            gzip.compress(
                b"ticket_id,ticket_type,opened_at\n" + b"T1,INCIDENT,2024-03-05 09:00\n" * 2000
            )[:200]
        ),
        "b.csv.gz",
        "unreadable",
    ),
    "cr-line-ends": (
        lambda d: (d / "b.csv").write_bytes(
            b"ticket_id,ticket_type,opened_at\rT1,INCIDENT,2024-03-05 09:00\r"
        ),
        "b.csv",
        "line ends must be LF or CRLF: the header row ends with a bare CR",
    ),
    "cr-inside-header": (
        lambda d: (d / "b.csv").write_bytes(
            b"ticket_id,ticket_type\r,opened_at\nT1,INCIDENT,2024-03-05 09:00\n"
        ),
        "b.csv",
        "line ends must be LF or CRLF: a bare CR inside the header row",
    ),
    "mixed-line-ends": (
        lambda d: (d / "b.csv").write_bytes(
            b"ticket_id,ticket_type,opened_at\nT1,INCIDENT,2024-03-05 09:00\r\n"
            b"T2,INCIDENT,2024-03-05 09:00\n"
        ),
        "b.csv",
        "line ends must be LF or CRLF, one kind throughout the file: line 1 ends with LF, "
        "line 2 with CRLF",
    ),
    "bare-cr-in-a-row": (
        lambda d: (d / "b.csv.gz").write_bytes(
            gzip.compress(
                b"ticket_id,ticket_type,opened_at\r\nT1,INCIDENT,2024-03-05 09:00\r\n"
                b"T2,INCIDENT\r,2024-03-05 09:00\r\n"
            )
        ),
        "b.csv.gz",
        "line ends must be LF or CRLF, one kind throughout the file: line 1 ends with CRLF, "
        "a bare CR in line 3",
    ),
    "parquet-nested-column": (
        lambda d: duckdb.execute(
            "COPY (SELECT 'T1' AS ticket_id, {'code': 'INCIDENT'} AS ticket_type, "
            f"'2024-03-05 09:00' AS opened_at) TO '{d / 'b.parquet'}' (FORMAT parquet)"
        ),
        "b.parquet",
        "column 'ticket_type' holds nested values (STRUCT(code VARCHAR)): ticket_type takes one "
        "value per row",
    ),
    "parquet-list-column": (
        lambda d: duckdb.execute(
            "COPY (SELECT ['T1', 'T2'] AS TICKET_ID, 'INCIDENT' AS ticket_type, "
            f"'2024-03-05 09:00' AS opened_at) TO '{d / 'b.parquet'}' (FORMAT parquet)"
        ),
        "b.parquet",
        "column 'TICKET_ID' holds nested values (VARCHAR[]): ticket_id takes one value per row",
    ),
    "header-row-too-long": (
        lambda d: (d / "b.csv").write_bytes(
            b"ticket_id,ticket_type,opened_at,"
            + b"x" * 2_000_000
            + b"\nT1,INCIDENT,2024-03-05 09:00,\n"
        ),
        "b.csv",
        "header row longer than 2,000,000 bytes",
    ),
    "other-file": (
        lambda d: (d / "notes.xlsx").write_bytes(b"PK"),
        "notes.xlsx",
        "unexpected entry in the month folder",
    ),
    "sub-folder": (
        lambda d: (d / "old").mkdir(),
        "old",
        "unexpected entry in the month folder (a folder)",
    ),
    "not-parquet": (
        lambda d: (d / "b.parquet").write_bytes(b"not parquet at all"),
        "b.parquet",
        "unreadable Parquet file",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_FAULTS))
def test_file_fault_fails_the_month_and_changes_nothing(con, tmp_path, case):
    make, file, message = FILE_FAULTS[case]
    fault = _good_then(con, tmp_path, feed_by_name("tickets"), make)
    assert fault.file == file
    assert fault.fault.startswith(message), fault.fault
    assert str(fault).startswith(f"tickets 2024-03: file {file!r}: ")


def test_line_ends_are_told_apart_across_read_chunks(tmp_path):
    """mixed_line_ends reads a file in chunks: a CRLF split between two chunks is one CRLF."""
    row = b"T1,INCIDENT,2024-03-05 09:00"
    body = row * (CHUNK_BYTES // len(row))
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b"h\r\n" + body[: CHUNK_BYTES - 4] + b"\r\n" + row + b"\r\n")
    assert crlf.read_bytes()[CHUNK_BYTES - 1 : CHUNK_BYTES + 1] == b"\r\n"  # split as meant
    assert mixed_line_ends(crlf, gz=False) is None
    late = tmp_path / "late.csv.gz"  # the other kind only in a later chunk
    late.write_bytes(gzip.compress(b"h\n" + (row + b"\n") * 50_000 + row + b"\r\n"))
    assert mixed_line_ends(late, gz=True) == "line 1 ends with LF, line 50002 with CRLF"


def test_a_header_row_longer_than_the_head_sample_is_read_whole(con, tmp_path):
    """The header is taken from the file's first 64 KiB, read on to the header's end when it is
    longer (a wide export: 12,000 extra columns here, ~250 KB)."""
    feed = feed_by_name("tickets")
    extra = [f"extra_column_{i:05d}" for i in range(12_000)]
    write_feed_file(tmp_path, feed, rows_of(feed, 2), columns=feed.column_names + extra)
    result = load(con, tmp_path, feed)
    assert (result.rows_read, result.rows_accepted) == (2, 2), result
    assert result.files[0].notes == [f"ignored extra columns: {', '.join(extra)}"]


def test_dotfiles_are_ignored(con, tmp_path):
    feed = feed_by_name("tickets")
    write_feed_file(tmp_path, feed, rows_of(feed, 1))
    (tmp_path / "tickets" / "2024-03" / ".DS_Store").write_bytes(b"\x00\x01")
    assert load(con, tmp_path, feed).rows_accepted == 1


def test_new_contract_column_extends_existing_table(con, tmp_path):
    feed = feed_by_name("manual")
    write_feed_file(tmp_path, feed, rows_of(feed, 1))
    load(con, tmp_path, feed)
    extended = Feed(**{**feed.__dict__, "columns": feed.columns + (Column("source_unit", "text"),)})
    write_feed_file(tmp_path, extended, [dict(rows_of(feed, 1)[0], source_unit="tariff")])
    load(con, tmp_path, extended)
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name='manual'"
        ).fetchall()
    ]
    assert "source_unit" in cols


def test_declared_reaches_name_columns_the_loader_can_follow():
    for feed in FEEDS:
        for reach in feed.reaches:
            column = feed.column(reach.column)
            if reach.feed is None:
                assert column.type == "timestamp", f"{feed.name}: {reach.column} is no timestamp"
            else:
                assert feed_by_name(reach.feed).key, (
                    f"{feed.name}: {reach.feed} has no key to join on"
                )


def test_a_feed_whose_key_may_be_empty_is_refused():
    """The duplicate check groups rows by key among rows with no fault, so a key must be a
    required column: an empty key is then a fault of its own, never a group."""
    with pytest.raises(ValueError, match="feed parcels: its key parcel_id must be a required"):
        Feed(
            name="parcels",
            kind="event",
            description="",
            columns=(Column("parcel_id", "text", False, "optional"),),
            key="parcel_id",
        )


def test_a_register_snapshot_dirties_the_months_its_certificates_changed_from(con, tmp_path):
    """The register restates its whole history each month, so its changes, not its dates, tell
    which months to rebuild: a certificate revoked this month, not the month its application was
    submitted years ago; a new certificate from its first valid day; a decision on an application
    that never became a certificate, nothing before the month loaded."""
    feed = feed_by_name("aeo_register")
    old_month, new_month = date(2024, 5, 1), date(2024, 6, 1)
    approved = dict(submitted_at="2019-03-04 09:00", decided_at="2019-06-01 10:00")
    before = [
        numbered(feed, 1, **approved, valid_from="2019-07-01"),
        numbered(feed, 2, submitted_at="2019-02-01 09:00", decision="PENDING", decided_at="")
        | {"valid_from": ""},
        numbered(feed, 3, **approved, valid_from="2019-08-01"),
    ]
    after = [
        dict(before[0], revoked_at="2024-06-10"),  # revoked this month
        dict(before[1], decision="REJECTED", decided_at="2024-06-03 10:00"),  # never a certificate
        before[2],  # unchanged
    ]
    write_feed_file(tmp_path, feed, before, month=old_month)
    load(con, tmp_path, feed, old_month)
    write_feed_file(tmp_path, feed, after, month=new_month)
    assert load(con, tmp_path, feed, new_month).dirty_months == [new_month]

    # a new certificate, valid from a day in March: from March on
    later = [*after, numbered(feed, 4, **approved, valid_from="2024-03-15")]
    write_feed_file(tmp_path, feed, later, month=date(2024, 7, 1))
    assert load(con, tmp_path, feed, date(2024, 7, 1)).dirty_months == [
        date(2024, 3, 1),
        date(2024, 7, 1),
    ]
    # the end of a validity moved back from open-ended to January 2023 (valid_to): from January 2023
    moved = [dict(later[2], valid_to="2023-01-20"), *later[:2], later[3]]
    write_feed_file(tmp_path, feed, moved, month=date(2024, 8, 1))
    assert load(con, tmp_path, feed, date(2024, 8, 1)).dirty_months == [
        date(2023, 1, 1),
        date(2024, 8, 1),
    ]
