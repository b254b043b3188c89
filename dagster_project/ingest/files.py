"""Inspecting each file of a feed-month before DuckDB reads it (what the delivery is: `delivery.py`).

Everything that makes a *file* unusable is found here or while DuckDB scans it,
and raised as a `FileFault` naming the file and the fault, before anything in
the work database changes.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from dagster_project.contract import Feed
from dagster_project.months import month_key

MONTH_DIR = re.compile(r"^(\d{4})-(\d{2})$")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet")
HEADER_SAMPLE_BYTES = 1 << 16
CHUNK_BYTES = 1 << 20
REJECT_TEXT_BYTES = 1000  # how much of an over-long line its reject keeps


@dataclass(frozen=True)
class ReadLimits:
    """What one file may hold before it is refused (settings: `Settings.read_limits`).

    * a physical line longer than `max_line_bytes` is a rejected row ("line too long");
    * a `.gz` whose content passes `gzip_max_bytes`, or passes both `gzip_ratio_floor`
      bytes and `gzip_max_ratio` times its compressed size, is a file-level fault.
    """

    max_line_bytes: int = 2_000_000  # DuckDB's own default maximum line size, set explicitly
    gzip_max_ratio: int = 100
    gzip_max_bytes: int = 16 * 2**30
    gzip_ratio_floor: int = 100 * 2**20

    def gzip_cap(self, compressed: int) -> int:
        """Expanded bytes a `.gz` of `compressed` bytes may reach."""
        return min(
            self.gzip_max_bytes, max(self.gzip_ratio_floor, self.gzip_max_ratio * compressed)
        )


@dataclass(frozen=True)
class LongLine:
    line: int  # physical line number (the header is line 1)
    size: int  # bytes, without the line end
    head: bytes  # its first REJECT_TEXT_BYTES bytes


@dataclass(frozen=True)
class FileScan:
    """One pass over a file's bytes before DuckDB reads it."""

    sha256: str  # of the file as stored (compressed for a .gz)
    long_lines: tuple[LongLine, ...] = ()
    content_bytes: int = 0  # after decompression


class _LineTracker:
    """Find the physical lines longer than a limit in a byte stream fed chunk by chunk.

    Only C-speed `bytes` methods run per chunk: a line longer than a chunk can only
    be one that spans chunk boundaries or fills a whole chunk, so interior lines of
    a chunk are measured only when the chunk itself is longer than the limit."""

    def __init__(self, limit: int):
        self.limit, self.newlines, self.run, self.head = limit, 0, 0, b""
        self.long: list[LongLine] = []

    def _end_line(self, size: int, head: bytes, line: int) -> None:
        if size > self.limit:
            self.long.append(LongLine(line, size, head[:REJECT_TEXT_BYTES]))

    def feed(self, data: bytes) -> None:
        first = data.find(b"\n")
        if first < 0:
            if self.run < REJECT_TEXT_BYTES:
                self.head += data[: REJECT_TEXT_BYTES - self.run]
            self.run += len(data)
            return
        self._end_line(
            self.run + first,
            self.head + data[: max(0, REJECT_TEXT_BYTES - self.run)],
            self.newlines + 1,
        )
        if len(data) > self.limit:  # a chunk larger than the limit can hold a long interior line
            pos, line = first + 1, self.newlines + 2
            while (nxt := data.find(b"\n", pos)) >= 0:
                self._end_line(nxt - pos, data[pos : pos + REJECT_TEXT_BYTES], line)
                pos, line = nxt + 1, line + 1
        self.newlines += data.count(b"\n")
        last = data.rfind(b"\n")
        self.run, self.head = len(data) - last - 1, data[last + 1 : last + 1 + REJECT_TEXT_BYTES]

    def close(self) -> tuple[LongLine, ...]:
        if self.run:
            self._end_line(self.run, self.head, self.newlines + 1)
        return tuple(self.long)


def scan_file(path: Path, limits: ReadLimits, fault) -> FileScan:
    """Hash a file and, for CSV, find its over-long lines; a `.gz` is expanded on the way,
    never past `limits.gzip_cap` (a file-level fault names the file and the limit)."""
    lower = path.name.lower()
    gz, csv_text = lower.endswith(".gz"), not lower.endswith(".parquet")
    compressed = path.stat().st_size
    cap = limits.gzip_cap(compressed)
    sha = hashlib.sha256()
    lines = _LineTracker(limits.max_line_bytes) if csv_text else None
    inflate = zlib.decompressobj(wbits=31) if gz else None
    expanded = 0

    def take(data: bytes) -> None:
        nonlocal expanded
        expanded += len(data)
        if gz and expanded > cap:
            raise fault(
                f"gzip expands past the limit: more than {cap:,} bytes from {compressed:,} compressed "
                f"(at most {limits.gzip_max_ratio} times its size above {limits.gzip_ratio_floor:,} bytes, "
                f"never past {limits.gzip_max_bytes:,}: CUSTOMS_KPI_GZIP_MAX_RATIO, CUSTOMS_KPI_GZIP_MAX_SIZE)"
            )
        if lines is not None:
            lines.feed(data)

    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
                sha.update(chunk)
                if inflate is None:
                    take(chunk)
                    continue
                while chunk:
                    take(inflate.decompress(chunk, CHUNK_BYTES))
                    chunk = inflate.unconsumed_tail
                    if inflate.eof and inflate.unused_data:  # another gzip member follows
                        chunk = inflate.unused_data + chunk
                        inflate = zlib.decompressobj(wbits=31)
        if inflate is not None:
            take(inflate.flush())
            if not inflate.eof:
                raise fault("unreadable gzip file (truncated: the compressed stream ends early)")
    except (OSError, zlib.error) as exc:
        raise fault(f"unreadable{' gzip' if gz else ''} file ({exc})") from exc
    return FileScan(sha.hexdigest(), lines.close() if lines else (), expanded)


def mixed_line_ends(path: Path, gz: bool) -> str | None:
    """Where a CSV's line ends change kind, or None if they do not: "line 1 ends with LF, line 2
    with CRLF", "line 1 ends with LF, a bare CR in line 7". DuckDB's reader takes one kind per
    file and reports a mix only as "The CSV Parser state machine reached an invalid state"; this
    reads the file again to name the lines, so it runs only after a read has failed. Lines are
    counted as an editor counts them (a quoted line break counts; the rejects count records)."""
    first: dict[str, int] = {}  # kind -> the first line where it is
    line, carry = 1, b""  # a CR at a chunk's end waits for the next chunk: it may be a CRLF
    with _open_content(path, gz) as fh:
        while True:
            data = fh.read(CHUNK_BYTES)
            chunk, carry = carry + data, b""
            if data and chunk.endswith(b"\r"):
                chunk, carry = chunk[:-1], b"\r"
            crlf = chunk.count(b"\r\n")
            counts = {
                "CRLF": crlf,
                "LF": chunk.count(b"\n") - crlf,
                "CR": chunk.count(b"\r") - crlf,
            }
            if {kind for kind, n in counts.items() if n} - first.keys():
                for match in re.finditer(rb"\r\n|\n|\r", chunk):  # a kind is new: find its line
                    kind = _LINE_END_KINDS[match.group()]
                    first.setdefault(kind, line)
                    line += kind != "CR"
            else:
                line += counts["CRLF"] + counts["LF"]
            if len(first) > 1 or not data:
                break
    if len(first) < 2 and "CR" not in first:
        return None
    said = []
    for kind, n in sorted(first.items(), key=lambda kv: kv[1]):
        if kind == "CR":
            said.append(f"a bare CR in line {n}")
        else:  # "line 1 ends with LF, line 2 with CRLF"
            said.append(f"line {n} {'with' if said else 'ends with'} {kind}")
    return ", ".join(said)


_LINE_END_KINDS = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}


class FileFault(Exception):
    """A file of a feed-month cannot be loaded; the month's load fails, nothing changes."""

    def __init__(self, feed: str, month: date, file: str, fault: str):
        self.feed, self.month, self.file, self.fault = feed, month, file, fault
        super().__init__(f"{feed} {month:%Y-%m}: file {file!r}: {fault}")


@dataclass(frozen=True)
class FileSpec:
    """What inspecting a file found out: how to read it and how its columns map."""

    path: Path  # the delivered file (its name is what messages and the audit show)
    format: Literal["csv", "parquet"]
    compression: Literal["none", "gzip"]
    delimiter: str | None
    header: tuple[str, ...]  # as written in the file
    mapping: dict[str, int]  # contract column -> position in the header
    extra_columns: tuple[str, ...] = field(default_factory=tuple)
    read_path: Path | None = (
        None  # what DuckDB is handed: a link with a plain name (see `literal_alias`)
    )

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def source(self) -> Path:
        return self.read_path or self.path


def literal_alias(path: Path, folder: Path, index: int) -> Path:
    """A link to `path` named `f<index><suffix>` in `folder`, for DuckDB.

    DuckDB's readers take a path as a glob pattern (`[`, `]`, `*`, `?`, `{` select
    other files) and offer no way to read one name literally, so every delivered
    file is handed to them under a plain name, whatever characters its own name holds.
    """
    lower = path.name.lower()
    suffix = (
        next(s for s in (".csv.gz", ".parquet", ".csv") if lower.endswith(s))
        if is_data_name(lower)
        else ""
    )
    alias = folder / f"f{index}{suffix}"
    alias.symlink_to(path.resolve())
    return alias


def is_data_name(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_SUFFIXES)


def month_folder(raw_dir: Path, feed: Feed, month: date) -> Path:
    return raw_dir / feed.name / month_key(month)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_content(path: Path, gz: bool):
    """The file's bytes as stored, or expanded for a `.gz` (read only after `scan_file` has
    checked its expansion against the limits)."""
    return gzip.open(path, "rb") if gz else path.open("rb")


def _read_head(path: Path, gz: bool, fault, limit: int) -> bytes:
    """The file's first HEADER_SAMPLE_BYTES, read on to the end of the header row when that is
    longer (a wide export), up to `limit`, the longest line a file may hold: a longer header row
    is a fault."""
    try:
        with _open_content(path, gz) as fh:
            head = fh.read(HEADER_SAMPLE_BYTES)
            while b"\n" not in head and len(head) <= limit:
                more = fh.read(HEADER_SAMPLE_BYTES)
                if not more:
                    break
                head += more
    except (OSError, EOFError, zlib.error) as exc:
        raise fault(f"unreadable{' gzip' if gz else ''} file ({exc})") from exc
    header_end = head.find(b"\n")
    if (len(head) if header_end < 0 else header_end) > limit:
        raise fault(f"header row longer than {limit:,} bytes, the longest line a file may hold")
    return head


def _header_line(head: bytes, fault) -> str:
    if head.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    ):
        raise fault("not UTF-8: the file is UTF-16/UTF-32 encoded (byte-order mark)")
    if b"\x00" in head:
        raise fault(
            "not UTF-8 text: the file contains NUL bytes (binary, or UTF-16 without a byte-order mark)"
        )
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    if not head.strip():
        raise fault("empty file: no header row")
    # the header is the first physical line (quoted newlines in headers are not supported)
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    # The contract takes LF or CRLF line ends. A bare CR (classic Mac line ends, or one left
    # inside a name) would make the header one run-on line, and Python's csv module refuses it.
    if b"\r" in first:
        where = (
            "the header row ends with a bare CR"
            if b"\n" not in head
            else "a bare CR inside the header row"
        )
        raise fault(f"line ends must be LF or CRLF: {where}")
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fault(f"not UTF-8: invalid byte 0x{first[exc.start]:02x} in the header row") from exc


def _split_header(line: str) -> tuple[str, tuple[str, ...]]:
    """Detect the delimiter (',' or ';') from the header and split it."""
    best: tuple[str, list[str]] | None = None
    # Python's csv module refuses a field longer than its field_size_limit (128 KiB by default, a
    # setting of the whole process): a wide header split on the other delimiter is one such field.
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(line) + 1))
    try:
        for delim in (",", ";"):
            fields = next(csv.reader(io.StringIO(line), delimiter=delim, quotechar='"'), [])
            if best is None or len(fields) > len(best[1]):
                best = (delim, fields)
    finally:
        csv.field_size_limit(limit)
    assert best is not None
    return best[0], tuple(best[1])


def map_header(
    feed: Feed, header: tuple[str, ...], fault
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Match header names to contract columns (case-insensitive, trimmed)."""
    normalised = [h.strip().lower() for h in header]
    if not any(normalised):
        raise fault("empty header row")
    seen: dict[str, int] = {}
    for i, name in enumerate(normalised):
        if name in seen and name:
            raise fault(f"column {name!r} appears twice in the header")
        seen[name] = i
    mapping = {c: seen[c] for c in feed.column_names if c in seen}
    missing = [c for c in feed.required_columns if c not in mapping]
    if missing:
        raise fault(
            f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        )
    known = set(feed.column_names)
    extra = tuple(header[i] for i, n in enumerate(normalised) if n not in known)
    return mapping, extra


def _is_nested(duckdb_type: str) -> bool:
    """A struct, map, union, list or array type, as DuckDB's DESCRIBE names it."""
    return duckdb_type.upper().startswith(("STRUCT(", "MAP(", "UNION(")) or duckdb_type.endswith(
        "]"
    )


def inspect_file(
    path: Path,
    feed: Feed,
    month: date,
    parquet_columns=None,
    read_path: Path | None = None,
    limits: ReadLimits = ReadLimits(),
) -> FileSpec:
    """Decide format, compression and delimiter, and map the header to the contract.

    `parquet_columns` is a callable returning a Parquet file's columns as (name, DuckDB type)
    (DuckDB reads the schema from `read_path`); it is only called for Parquet files. A CSV's
    header row may be as long as any line (`limits.max_line_bytes`).
    """

    def fault(message: str) -> FileFault:
        return FileFault(feed.name, month, path.name, message)

    lower = path.name.lower()
    if lower.endswith(".parquet"):
        try:
            columns = parquet_columns(read_path or path)
        except Exception as exc:  # DuckDB raises several kinds for a broken Parquet file
            raise fault(f"unreadable Parquet file ({str(exc).splitlines()[0]})") from exc
        header = tuple(name for name, _ in columns)
        mapping, extra = map_header(feed, header, fault)
        for name, position in mapping.items():
            kind = columns[position][1]
            if _is_nested(kind):
                raise fault(
                    f"column {header[position]!r} holds nested values ({kind}): "
                    f"{name} takes one value per row"
                )
        return FileSpec(path, "parquet", "none", None, header, mapping, extra, read_path)

    gz = lower.endswith(".gz")
    if path.stat().st_size == 0:
        raise fault("empty file: zero bytes, no header row")
    head = _read_head(path, gz, fault, limits.max_line_bytes)
    line = _header_line(head, fault)
    delimiter, header = _split_header(line)
    mapping, extra = map_header(feed, header, fault)
    return FileSpec(
        path, "csv", "gzip" if gz else "none", delimiter, header, mapping, extra, read_path
    )
