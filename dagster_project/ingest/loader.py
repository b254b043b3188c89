"""Load one feed-month: every file read by DuckDB, every row accepted or rejected.

The whole month is staged and checked in temporary tables first; only when
every file of the delivery is readable does one transaction replace the
month's rows, rejects and audit rows (delete the month, insert the month).
A file-level fault raises `FileFault` before anything is written.

Each file is read once into its staging table, typed and checked in the same
scan. A reject keeps its line's text, so the scan must know which rows will be
rejected: row checks it sees itself, duplicate ids it cannot (they depend on
other rows). So a feed with a key first reads only the key column of every file
and marks, in a bit filter, the keys that occur twice in the delivery or are
already loaded for an earlier month; the scan keeps the text of the rows whose
key hits the filter too, and only those rows are compared for duplicates.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from functools import partial
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from dagster_project.contract import Feed, Reach, feed_by_name
from dagster_project.ingest.delivery import check_unchanged, feed_month_delivery
from dagster_project.ingest.files import (
    FileFault,
    FileScan,
    FileSpec,
    LongLine,
    ReadLimits,
    inspect_file,
    literal_alias,
    mixed_line_ends,
    scan_file,
)
from dagster_project.ingest.rowchecks import (
    duplicate_key_sql,
    key_hash_sql,
    key_hashes_sql,
    local_month_expr,
    typed_select_sql,
)
from dagster_project.warehouse.sql import lit, q
from dagster_project.ingest.schema import ensure_feed_table, ensure_raw_schema


@dataclass
class FileResult:
    file: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    feed: str
    month: date
    delivered: bool
    files: list[FileResult] = field(default_factory=list)
    dirty_months: list[date] = field(default_factory=list)
    demoted_later_duplicates: int = 0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def reject_share(self) -> float | None:
        return self.rows_rejected / self.rows_read if self.rows_read else None


def _field_count(message: str) -> int | None:
    m = re.search(r"Found:\s*(\d+)", message or "")
    return int(m.group(1)) if m else None


def _line_size(messages: list[str]) -> int | None:
    sizes = [
        int(m.group(1))
        for m in (re.search(r"Actual Size:\s*(\d+)", x or "") for x in messages)
        if m
    ]
    return max(sizes) if sizes else None


def too_long(size: int | None, limit: int) -> str:
    return (
        f"line too long ({size:,} bytes; at most {limit:,})"
        if size
        else f"line too long (over {limit:,} bytes)"
    )


def _parquet_columns(con: duckdb.DuckDBPyConnection) -> Callable[[Path], list[tuple[str, str]]]:
    def columns(path: Path) -> list[tuple[str, str]]:
        rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
        return [(r[0], r[1]) for r in rows]

    return columns


def _csv_quote(expr: str, delimiter: str) -> str:
    """SQL that re-serialises one text field as CSV (quoted where needed)."""
    needs = f"(contains({expr}, {lit(delimiter)}) OR contains({expr}, '\"') OR contains({expr}, chr(10)) OR contains({expr}, chr(13)))"
    return (
        f"CASE WHEN {expr} IS NULL THEN '' WHEN {needs} "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


LINE_BLOCK = 1024  # rows per block of the record-number lookup (`_Stage.load`)
SUSPECT_VARIABLE = "_suspect_bits"  # the bit filter of the keys that may be duplicates


def suspect_bits(n: int) -> int:
    """Size of the bit filter for `n` suspect keys: 64 bits a key (about 1.5 % of the other
    keys hit it), at least 2^16, at most 2^26 (8 MiB)."""
    return min(1 << 26, max(1 << 16, 1 << (64 * n - 1).bit_length()))


class _Stage:
    """Temporary tables holding one file's typed and checked rows and its parser rejects."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        idx: int,
        spec: FileSpec,
        scan: FileScan,
        feed: Feed,
        month: date,
        limits: ReadLimits,
    ):
        self.con, self.idx, self.spec, self.scan, self.feed, self.month = (
            con,
            idx,
            spec,
            scan,
            feed,
            month,
        )
        self.limits = limits
        self.table = f"_t{idx}"
        self.lines_view = f"_fl{idx}"
        self.parser_rejects = f"_pr{idx}"
        self.line_blocks = f"_lb{idx}"
        self.width = len(spec.header)

    def fault(self, message: str) -> FileFault:
        return FileFault(self.feed.name, self.month, self.spec.name, message)

    def cols(self) -> list[str]:
        return [f"c{i}" for i in range(self.width)]

    def _read(self, rejects: str) -> str:
        """This file's rows as text `c0`, `c1`, … (one per header field), in file order; a CSV's
        parser rejects go to the tables `rejects` and `<rejects>scan`."""
        spec = self.spec
        path = lit(str(spec.source))
        if spec.format == "parquet":
            casts = ", ".join(f"CAST({q(h)} AS VARCHAR) AS c{i}" for i, h in enumerate(spec.header))
            return f"(SELECT {casts}, file_row_number + 2 AS _line FROM read_parquet({path}, file_row_number = true))"
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(self.width)) + "}"
        options = (
            f"columns = {columns}, header = true, auto_detect = false, delim = {lit(spec.delimiter or ',')}, "
            f"quote = '\"', escape = '\"', strict_mode = true, null_padding = false, "
            f"max_line_size = {self.limits.max_line_bytes}, "
            f"compression = {lit('gzip' if spec.compression == 'gzip' else 'none')}, "
            f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}scan'"
        )
        return f"read_csv({path}, {options})"

    def run_reading(self, sql: str) -> None:
        """Execute a statement that reads this file; a failure to read it is the file's fault."""
        try:
            self.con.execute(sql)
        except duckdb.Error as exc:
            said = str(exc).splitlines()[0]
            if self.spec.format == "parquet":
                raise self.fault(f"unreadable Parquet file ({said})") from exc
            mixed = (
                mixed_line_ends(self.spec.path, self.spec.compression == "gzip")
                if "state machine reached an invalid state" in said
                else None
            )
            if mixed:
                raise self.fault(
                    f"line ends must be LF or CRLF, one kind throughout the file: {mixed} ({said})"
                ) from exc
            raise self.fault(f"unreadable CSV ({said})") from exc

    def _contract_source(self, rejects: str, columns: list[str]) -> str:
        """The file's rows with a text column for each of `columns` (contract columns; NULL
        where the file lacks one) next to `c0`, `c1`, …"""
        mapped = ", ".join(
            f"c{self.spec.mapping[name]} AS {q(name)}"
            if name in self.spec.mapping
            else f"CAST(NULL AS VARCHAR) AS {q(name)}"
            for name in columns
        )
        return f"(SELECT *, {mapped} FROM {self._read(rejects)})"

    def key_scan(self) -> str:
        """SELECT `h`: the hashes of this file's keys (`rowchecks.key_hash_sql`)."""
        return key_hashes_sql(self.feed, self._contract_source(f"_krej{self.idx}", [self.feed.key]))

    def drop_rejects(self, rejects: str) -> None:
        """Drop a CSV scan's rejects tables: DuckDB appends to them if they exist when the next
        scan on this connection names them."""
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}")
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}scan")

    def drop_key_scan(self) -> None:
        self.drop_rejects(f"_krej{self.idx}")

    def load(self, typed: Callable[..., str], suspect: str | None) -> None:
        """Read, type and check the file in one scan into `_t<i>`; `typed` is `typed_select_sql`
        with all but the source and its columns bound, `suspect` the condition on the typed key
        under which a row with no fault of its own keeps its text too (see the module)."""
        con, spec = self.con, self.spec
        con.execute(
            f"CREATE TEMP TABLE {self.parser_rejects} (line BIGINT, adj BIGINT, reason VARCHAR, raw_text VARCHAR)"
        )
        keep_text = "_fault_no IS NOT NULL" + (f" OR {suspect}" if suspect else "")
        select = typed(
            self._contract_source(f"_rej{self.idx}", [c.name for c in self.feed.columns]),
            keep=("_line",) if spec.format == "parquet" else (),
            carry=tuple(self.cols()),
            extra=(f"CASE WHEN {keep_text} THEN {self.raw_text_expr()} END AS _raw",),
        )
        self.run_reading(f"CREATE TEMP TABLE {self.table} AS {select}")
        if spec.format == "parquet":
            con.execute(
                f"CREATE TEMP VIEW {self.lines_view} AS SELECT rowid AS _rid, * FROM {self.table}"
            )
            return
        errors = con.execute(
            f"SELECT line, list(DISTINCT error_type), min(csv_line), list(error_message) "
            f"FROM _rej{self.idx} GROUP BY line ORDER BY line"
        ).fetchall()
        self.drop_rejects(f"_rej{self.idx}")
        accepted_rows = con.execute(f"SELECT count(*) FROM {self.table}").fetchall()[0][0]
        self._classify_parser_errors(errors, accepted_rows, self.scan.long_lines)

        # Record number of each parsed row: rowid + 2, shifted past the lines the parser rejected
        # (those whose `adj` is at most rowid + 2). A variable holds, per block of LINE_BLOCK rows,
        # the count of earlier blocks' rejects and the list of its own block's; each row looks its
        # block up by position. An ASOF join sorted all of a 10M-row file instead (~100 s of its
        # load), and any join may hand rows on out of order: the view must stay a plain scan, so
        # the rows keep their order (the raw table's order follows from it).
        n_rejected = con.execute(f"SELECT count(*) FROM {self.parser_rejects}").fetchall()[0][0]
        if n_rejected:
            con.execute(
                f"SET VARIABLE {self.line_blocks} = ("
                f"WITH r AS (SELECT adj, adj // {LINE_BLOCK} AS block FROM {self.parser_rejects}), "
                f"g AS (SELECT block, count(*) AS n, list(adj) AS adjs FROM r GROUP BY block), "
                f"b AS (SELECT b.range AS block, coalesce(sum(g.n) OVER (ORDER BY b.range "
                f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before, g.adjs "
                f"FROM range(0, ({accepted_rows} + 2) // {LINE_BLOCK} + 1) b "
                f"LEFT JOIN g ON g.block = b.range) "
                f"SELECT {{'before': list(before ORDER BY block), 'adjs': list(adjs ORDER BY block)}} "
                f"FROM b)"
            )
            blocks = f"getvariable({lit(self.line_blocks)})"
            block = f"(rowid + 2) // {LINE_BLOCK} + 1"
            con.execute(
                f"CREATE TEMP VIEW {self.lines_view} AS "
                f"SELECT rowid + 2 + {blocks}.before[{block}] "
                f"+ coalesce(len(list_filter({blocks}.adjs[{block}], lambda a: a <= rowid + 2)), 0) "
                f"AS _line, rowid AS _rid, * FROM {self.table}"
            )
        else:
            con.execute(
                f"CREATE TEMP VIEW {self.lines_view} AS SELECT rowid + 2 AS _line, rowid AS _rid, * FROM {self.table}"
            )

    def _classify_parser_errors(
        self, errors, accepted_rows: int, long_lines: tuple[LongLine, ...]
    ) -> None:
        """Parser rejects of DuckDB's scan, plus the over-long lines it skipped without a word.

        DuckDB rejects a line over `max_line_size` only while the line fits its read
        buffer; a longer one vanishes from the scan. The pre-read scan found every
        physical line over the limit: each that DuckDB did not report is rejected here.
        """
        rows = []
        last_line = errors[-1][0] if errors else None
        reported = {e[0] for e in errors}
        limit = self.limits.max_line_bytes
        for long in long_lines:
            if long.line > 1 and long.line not in reported:
                rows.append(
                    (
                        long.line,
                        too_long(long.size, limit),
                        long.head.decode("utf-8", "replace") + "…",
                    )
                )
        for line, types, csv_line, messages in errors:
            text = (csv_line or "").strip("\r\n")
            if "INVALID ENCODING" in types:
                raise self.fault(f"not UTF-8: invalid byte sequence at line {line}")
            if "UNQUOTED VALUE" in types:
                if "\n" in text or (line == last_line and accepted_rows + len(errors) + 1 <= line):
                    raise self.fault(
                        f"a quote opened at line {line} is never closed: rows cannot be told apart"
                    )
                reason = "malformed quoting"
            elif "LINE SIZE OVER MAXIMUM" in types:  # its fields are not worth counting
                reason = too_long(_line_size(messages), self.limits.max_line_bytes)
            elif "MISSING COLUMNS" in types:
                found = min((c for c in map(_field_count, messages) if c is not None), default=None)
                reason = (
                    f"fewer fields than the header ({found} of {self.width})"
                    if found
                    else "fewer fields than the header"
                )
            elif "TOO MANY COLUMNS" in types:
                found = max((c for c in map(_field_count, messages) if c is not None), default=None)
                reason = (
                    f"more fields than the header ({found} of {self.width})"
                    if found
                    else "more fields than the header"
                )
            else:
                reason = "unparsable line: " + "; ".join(
                    sorted({m.splitlines()[0] for m in messages if m})
                )
            rows.append((line, reason, text))
        if not rows:
            return
        # One statement for all of them (one INSERT per row took 5 s for the 15k of a 10M month)
        lines, reasons, texts = zip(*sorted(rows))
        self.con.execute(
            f"INSERT INTO {self.parser_rejects} SELECT unnest(?), unnest(?), unnest(?), unnest(?)",
            [list(lines), [line - i for i, line in enumerate(lines)], list(reasons), list(texts)],
        )

    def raw_text_expr(self) -> str:
        """The row's text as the file gave it, from `c0`, `c1`, … (re-quoted where needed)."""
        delim = self.spec.delimiter or ","
        return (
            f"concat_ws({lit(delim)}, " + ", ".join(_csv_quote(c, delim) for c in self.cols()) + ")"
        )

    def mark_duplicates(self, fault_column: str, source: str) -> None:
        """Mark the rows `source` names (`_fidx`, `_rid`, `_fault`) as faulty in `fault_column`."""
        self.con.execute(
            f"UPDATE {self.table} SET _fault_column = {lit(fault_column)}, _fault = d._fault "
            f"FROM {source} d WHERE d._fidx = {self.idx} AND {self.table}.rowid = d._rid"
        )

    def drop(self) -> None:
        self.drop_rejects(f"_rej{self.idx}")  # still there when the scan failed
        for stmt in (
            f"DROP VIEW IF EXISTS {self.lines_view}",
            f"DROP TABLE IF EXISTS {self.table}",
            f"DROP TABLE IF EXISTS {self.parser_rejects}",
            f"RESET VARIABLE {self.line_blocks}",
        ):
            self.con.execute(stmt)


def reach_sql(reach: Reach, tz: str, source: str) -> str:
    """The months one `Feed.reaches` entry names for the rows of `source`."""
    if reach.feed is not None:
        other = feed_by_name(reach.feed)
        return (
            f"SELECT DISTINCT d._month FROM {source} s JOIN {other.raw_table} d "
            f"ON d.{other.key} = s.{reach.column}"
        )
    return f"SELECT DISTINCT {local_month_expr(reach.column, tz)} FROM {source} WHERE {reach.column} IS NOT NULL"


def touched_months_sql(feed: Feed, tz: str, source: str) -> str | None:
    """Other months whose downstream figures rows of `source` (old or new rows of the month) feed.

    What the feed declares in `Feed.reaches` (a lane row counts for its
    declaration's month); a feed that declares nothing only touches its own month.
    """
    if not feed.reaches:
        return None
    return " UNION ".join(reach_sql(r, tz, source) for r in feed.reaches)


def _register_dirty_sql() -> str:
    """Earliest month whose month-by-month figures differ between two register snapshots (_old,
    _new). The models built month by month (declarations, drawback claims) read the register
    only as certificates: an APPROVED application's trader and validity interval
    [valid_from, least(valid_to, revoked_at)) (int_aeo_certificates); the rest of the register
    feeds models rebuilt whole on every run. So an application counts only where its
    certificate changed, from the first day whose validity differs: the earlier end when only the
    end moved, else the earlier start."""
    # DuckDB's least() skips NULLs: the earlier of the two ends, or the one there is
    cert = (
        "SELECT application_id, trader_id, valid_from, least(valid_to, revoked_at) AS valid_until "
        "FROM {} WHERE decision = 'APPROVED'"
    )
    return (
        f"WITH o AS ({cert.format('_old')}), n AS ({cert.format('_new')}) "
        "SELECT CAST(date_trunc('month', min(CASE "
        "  WHEN o.trader_id IS NOT DISTINCT FROM n.trader_id AND o.valid_from IS NOT DISTINCT FROM n.valid_from "
        "  THEN least(o.valid_until, n.valid_until) "
        "  ELSE least(o.valid_from, n.valid_from) END)) AS DATE) "
        "FROM o FULL JOIN n ON o.application_id = n.application_id "
        "WHERE o.trader_id IS DISTINCT FROM n.trader_id OR o.valid_from IS DISTINCT FROM n.valid_from "
        "OR o.valid_until IS DISTINCT FROM n.valid_until"
    )


def load_feed_month(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    month: date,
    *,
    raw_dir: Path,
    tz: str,
    code_sets: dict[str, frozenset[str]],
    loaded_at: datetime | None = None,
    limits: ReadLimits | None = None,
) -> LoadResult:
    """Replace one feed-month in the raw layer with its delivery (`feed_month_delivery`).

    No delivery (no folder, or no data file in it) changes nothing. Returns the
    per-file counts. Raises `FileFault` (nothing changed) when a file cannot be
    read as a whole. Each file is first scanned once (hash, over-long lines, a
    `.gz` expanded within `limits`), then read by DuckDB under a plain link name.
    """
    limits = limits or ReadLimits()
    delivery = feed_month_delivery(raw_dir, feed, month)
    if delivery.faults:
        raise delivery.faults[0]
    if not delivery.delivered:  # no folder, or no data file in it: the loaded month stays as it is
        return LoadResult(feed.name, month, delivered=False)
    files = [f.path for f in delivery.files]
    existing = ensure_raw_schema(con)
    if {c.name for c in feed.columns} - existing.get(
        feed.name, set()
    ):  # a contract newer than FEEDS
        ensure_feed_table(con, feed, existing.get(feed.name, set()))
    loaded_at = loaded_at or datetime.now(timezone.utc).replace(tzinfo=None)
    month_lit = lit(month.isoformat())
    stages: list[_Stage] = []
    links = tempfile.TemporaryDirectory(prefix="customs-kpi-read-")
    try:
        specs, scans = [], []
        for i, path in enumerate(files):
            scans.append(
                scan_file(
                    path,
                    limits,
                    lambda message, name=path.name: FileFault(feed.name, month, name, message),
                )
            )
            alias = literal_alias(path, Path(links.name), i)
            specs.append(
                inspect_file(
                    path,
                    feed,
                    month,
                    parquet_columns=_parquet_columns(con),
                    read_path=alias,
                    limits=limits,
                )
            )
        stages = [
            _Stage(con, i, spec, scan, feed, month, limits)
            for i, (spec, scan) in enumerate(zip(specs, scans))
        ]
        suspect = _suspect_keys(con, feed, month, stages) if feed.key else None
        present = {c for s in specs for c in s.mapping}
        typed = partial(typed_select_sql, feed, month_lit, tz, code_sets, present)
        # File after file, each in line order: DuckDB keeps the order of a scan through
        # projections (preserve_insertion_order, which the record numbers already need), and the
        # row checks hold no join (`rowchecks.in_set`), so each `_t<i>` and the raw table after
        # them come out in file and line order with no sort.
        con.execute(f"SET TimeZone = {lit(tz)}")
        try:
            for stage in stages:
                stage.load(typed, suspect)
        finally:
            con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TEMP VIEW _typed AS "
            + " UNION ALL BY NAME ".join(
                f"SELECT {s.idx} AS _fidx, * FROM {s.lines_view}" for s in stages
            )
        )
        if suspect:  # the rows of the other keys have no duplicate in the delivery
            con.execute(
                f"CREATE TEMP TABLE _suspect_rows AS SELECT _fidx, _line, _rid, {q(feed.key)}, _fault "
                f"FROM _typed WHERE _raw IS NOT NULL AND _fault IS NULL"
            )
            con.execute(
                "CREATE TEMP TABLE _dups AS "
                + duplicate_key_sql(feed, "_suspect_rows", [s.spec.name for s in stages])
            )
            for stage in stages:
                stage.mark_duplicates(feed.key, "_dups")
        hashes = [scan.sha256 for scan in scans]
        check_unchanged(
            delivery, hashes
        )  # a file still being written fails the month, nothing replaced
        result = _write_month(con, feed, month, stages, hashes, tz, loaded_at, bool(suspect))
        return result
    finally:
        con.execute("DROP VIEW IF EXISTS _typed")
        con.execute("DROP TABLE IF EXISTS _dups")
        con.execute("DROP TABLE IF EXISTS _suspect_rows")
        con.execute("DROP TABLE IF EXISTS _suspects")
        con.execute(f"RESET VARIABLE {SUSPECT_VARIABLE}")
        for s in stages:
            s.drop()
        links.cleanup()


def _suspect_keys(con, feed: Feed, month: date, stages: list[_Stage]) -> str | None:
    """Read the key of every file of the delivery; put the keys that may be rejected as
    duplicates (twice in the delivery, or, for an event feed, already loaded for an earlier
    month) into the bit filter `SUSPECT_VARIABLE`. Returns the condition on a typed row's key
    that the filter holds it, or None when no key is suspect. Keys are compared by their hash:
    a collision only makes a few more rows suspect."""
    earlier = ""
    if feed.kind == "event":
        m = f"DATE {lit(month.isoformat())}"
        earlier = (
            f" OR h IN (SELECT {key_hash_sql(q(feed.key))} FROM {feed.raw_table} "
            f"WHERE _month < {m})"
        )
    con.execute("CREATE OR REPLACE TEMP TABLE _keys (h UBIGINT)")
    try:
        for s in stages:
            s.run_reading(f"INSERT INTO _keys {s.key_scan()}")
        con.execute(
            f"CREATE TEMP TABLE _suspects AS SELECT h FROM _keys GROUP BY h HAVING count(*) > 1{earlier}"
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _keys")
        for s in stages:
            s.drop_key_scan()
    n = con.execute("SELECT count(*) FROM _suspects").fetchall()[0][0]
    if not n:
        return None
    bits = suspect_bits(n)
    con.execute(
        f"SET VARIABLE {SUSPECT_VARIABLE} = (SELECT bitstring_agg(CAST(h % {bits} AS INTEGER), 0, {bits - 1}) "
        f"FROM _suspects)"
    )
    bit = f"CAST({key_hash_sql(q(feed.key))} % {bits} AS INTEGER)"
    return f"get_bit(getvariable({lit(SUSPECT_VARIABLE)}), {bit}) = 1"


def _write_month(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    month: date,
    stages: list[_Stage],
    hashes: list[str],
    tz: str,
    loaded_at: datetime,
    suspects: bool,
) -> LoadResult:
    m = f"DATE {lit(month.isoformat())}"
    at = f"TIMESTAMP {lit(loaded_at.isoformat(sep=' '))}"
    cols = ", ".join(q(c.name) for c in feed.columns)
    table = feed.raw_table
    result = LoadResult(feed.name, month, delivered=True)

    con.execute("BEGIN TRANSACTION")
    try:
        if feed.kind == "event" and feed.key and suspects:  # a key loaded before is suspect
            k = q(feed.key)
            for s in stages:
                con.execute(
                    f"UPDATE {s.table} SET _fault_column = {lit(feed.key)}, "
                    f"_fault = 'duplicate {feed.key} (already loaded for month ' || strftime(p._month, '%Y-%m') || ')' "
                    f"FROM (SELECT {k} AS _k, _month FROM {table} WHERE _month < {m}) p "
                    f"WHERE {s.table}.{k} = p._k AND {s.table}._fault IS NULL AND {s.table}._raw IS NOT NULL"
                )

        dirty: set[date] = {month}
        if feed.kind == "snapshot":
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM _typed WHERE _fault IS NULL"
            )
            latest = con.execute(f"SELECT max(_month) FROM {table} WHERE _month <> {m}").fetchall()[
                0
            ][0]
            if latest is None or latest <= month:
                prev = f"(SELECT max(_month) FROM {table})"
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _old AS SELECT * FROM {table} WHERE _month = {prev}"
                )
                earliest = con.execute(_register_dirty_sql()).fetchall()[0][0]
                if earliest is not None:
                    dirty.add(earliest)
            con.execute("DROP TABLE IF EXISTS _new")
            con.execute("DROP TABLE IF EXISTS _old")
        old_dirty = touched_months_sql(feed, tz, f"(SELECT * FROM {table} WHERE _month = {m})")
        if old_dirty:
            dirty.update(r[0] for r in con.execute(old_dirty).fetchall() if r[0] is not None)

        con.execute(f"DELETE FROM {table} WHERE _month = {m}")
        # In file and line order, as `_typed` holds them: the same files always give the same
        # table, row for row. (The KPIs built on it may still differ in their last bits between
        # two builds: DuckDB sums floats in parallel, in no fixed order.)
        for s in stages:
            con.execute(
                f"INSERT INTO {table} ({cols}, _month, _file, _line, _loaded_at) "
                f"SELECT {cols}, {m}, {lit(s.spec.name)}, _line, {at} FROM {s.lines_view} "
                f"WHERE _fault IS NULL"
            )
        new_dirty = touched_months_sql(feed, tz, f"(SELECT * FROM {table} WHERE _month = {m})")
        if new_dirty:
            dirty.update(r[0] for r in con.execute(new_dirty).fetchall() if r[0] is not None)

        con.execute(f"DELETE FROM raw.rejects WHERE feed = {lit(feed.name)} AND month = {m}")
        for s in stages:
            con.execute(
                f"INSERT INTO raw.rejects SELECT {lit(feed.name)}, {m}, {lit(s.spec.name)}, _line, _fault_column, _fault, "
                f"_raw, {at} FROM {s.lines_view} WHERE _fault IS NOT NULL ORDER BY _line"
            )
            con.execute(
                f"INSERT INTO raw.rejects SELECT {lit(feed.name)}, {m}, {lit(s.spec.name)}, line, NULL, reason, "
                f"raw_text, {at} FROM {s.parser_rejects} ORDER BY line"
            )

        con.execute(f"DELETE FROM raw.load_audit WHERE feed = {lit(feed.name)} AND month = {m}")
        for s, digest in zip(stages, hashes):
            parsed, accepted, rejected_rows = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE _fault IS NULL), "
                f"count(*) FILTER (WHERE _fault IS NOT NULL) FROM {s.table}"
            ).fetchall()[0]
            parser_rej = con.execute(f"SELECT count(*) FROM {s.parser_rejects}").fetchall()[0][0]
            notes = []
            if s.spec.extra_columns:
                notes.append("ignored extra columns: " + ", ".join(s.spec.extra_columns))
            fr = FileResult(
                s.spec.name,
                digest,
                parsed + parser_rej,
                accepted,
                rejected_rows + parser_rej,
                notes,
            )
            result.files.append(fr)
            con.execute(
                "INSERT INTO raw.load_audit VALUES (?, ?, ?, ?, ?, ?, ?, 'not_checked', NULL, ?, ?)",
                [
                    feed.name,
                    month,
                    fr.file,
                    digest,
                    fr.rows_read,
                    fr.rows_accepted,
                    fr.rows_rejected,
                    "; ".join(notes) or None,
                    loaded_at,
                ],
            )

        if feed.kind == "event" and feed.key:
            result.demoted_later_duplicates = _demote_later_duplicates(con, feed, month, at, dirty)

        result.dirty_months = sorted(dirty)
        con.executemany(
            "INSERT INTO meta.dirty_months VALUES (?, ?, ?)",
            [[d, feed.name, loaded_at] for d in result.dirty_months],
        )
        con.execute(f"DELETE FROM meta.load_failures WHERE feed = {lit(feed.name)} AND month = {m}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def record_file_fault(
    con: duckdb.DuckDBPyConnection, fault: FileFault, at: datetime | None = None
) -> None:
    """Note a feed-month's file-level fault (its loaded data are left exactly as they were)."""
    ensure_raw_schema(con)
    at = at or datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute(
        "DELETE FROM meta.load_failures WHERE feed = ? AND month = ?", [fault.feed, fault.month]
    )
    con.execute(
        "INSERT INTO meta.load_failures VALUES (?, ?, ?, ?, ?)",
        [fault.feed, fault.month, fault.file, fault.fault, at],
    )


def _demote_later_duplicates(con, feed: Feed, month: date, at: str, dirty: set[date]) -> int:
    """Ids now loaded for `month` that a later month also holds: the later copy becomes a reject.

    (The earlier month's occurrence stands, whichever month was loaded first.)
    """
    k, table = q(feed.key), feed.raw_table
    m = f"DATE {lit(month.isoformat())}"
    cols = [q(c.name) for c in feed.columns]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _later AS SELECT x.* FROM {table} x "
        f"WHERE x._month > {m} AND x.{k} IN (SELECT {k} FROM {table} WHERE _month = {m})"
    )
    n = con.execute("SELECT count(*) FROM _later").fetchall()[0][0]
    if n:
        text = (
            "concat_ws(',', " + ", ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in cols) + ")"
        )
        con.execute(
            f"INSERT INTO raw.rejects SELECT {lit(feed.name)}, _month, _file, _line, {lit(feed.key)}, "
            f"'duplicate {feed.key} (already loaded for month {month:%Y-%m})', {text}, {at} FROM _later"
        )
        con.execute(f"DELETE FROM {table} WHERE _month > {m} AND {k} IN (SELECT {k} FROM _later)")
        con.execute(
            f"UPDATE raw.load_audit a SET rows_accepted = a.rows_accepted - d.n, rows_rejected = a.rows_rejected + d.n "
            f"FROM (SELECT _month, _file, count(*) AS n FROM _later GROUP BY ALL) d "
            f"WHERE a.feed = {lit(feed.name)} AND a.month = d._month AND a.file = d._file"
        )
        dirty.update(r[0] for r in con.execute("SELECT DISTINCT _month FROM _later").fetchall())
    con.execute("DROP TABLE IF EXISTS _later")
    return n
