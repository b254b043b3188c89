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

MONTH_DIR = re.compile(r"^(\d{4})-(\d{2})$")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet")
HEADER_SAMPLE_BYTES = 1 << 16


class FileFault(Exception):
    """A file of a feed-month cannot be loaded; the month's load fails, nothing changes."""

    def __init__(self, feed: str, month: date, file: str, fault: str):
        self.feed, self.month, self.file, self.fault = feed, month, file, fault
        super().__init__(f"{feed} {month:%Y-%m}: file {file!r}: {fault}")


@dataclass(frozen=True)
class FileSpec:
    """What inspecting a file found out: how to read it and how its columns map."""

    path: Path
    format: Literal["csv", "parquet"]
    compression: Literal["none", "gzip"]
    delimiter: str | None
    header: tuple[str, ...]  # as written in the file
    mapping: dict[str, int]  # contract column -> position in the header
    extra_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.path.name


def month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def parse_month(text: str) -> date:
    """'YYYY-MM' or 'YYYY-MM-DD' (a partition key) -> first day of that month."""
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-01)?", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_folder(raw_dir: Path, feed: Feed, month: date) -> Path:
    return raw_dir / feed.name / month_key(month)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_head(path: Path, gz: bool, fault) -> bytes:
    try:
        if gz:
            with gzip.open(path, "rb") as fh:
                return fh.read(HEADER_SAMPLE_BYTES)
        with path.open("rb") as fh:
            return fh.read(HEADER_SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise fault(f"unreadable{' gzip' if gz else ''} file ({exc})") from exc


def _header_line(head: bytes, fault) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise fault("not UTF-8: the file is UTF-16/UTF-32 encoded (byte-order mark)")
    if b"\x00" in head:
        raise fault("not UTF-8 text: the file contains NUL bytes (binary, or UTF-16 without a byte-order mark)")
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    if not head.strip():
        raise fault("empty file: no header row")
    # the header is the first physical line (quoted newlines in headers are not supported)
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fault(f"not UTF-8: invalid byte 0x{first[exc.start]:02x} in the header row") from exc


def _split_header(line: str) -> tuple[str, tuple[str, ...]]:
    """Detect the delimiter (',' or ';') from the header and split it."""
    best: tuple[str, list[str]] | None = None
    for delim in (",", ";"):
        fields = next(csv.reader(io.StringIO(line), delimiter=delim, quotechar='"'), [])
        if best is None or len(fields) > len(best[1]):
            best = (delim, fields)
    assert best is not None
    return best[0], tuple(best[1])


def map_header(feed: Feed, header: tuple[str, ...], fault) -> tuple[dict[str, int], tuple[str, ...]]:
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
        raise fault(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    known = set(feed.column_names)
    extra = tuple(header[i] for i, n in enumerate(normalised) if n not in known)
    return mapping, extra


def inspect_file(path: Path, feed: Feed, month: date, parquet_columns=None) -> FileSpec:
    """Decide format, compression and delimiter, and map the header to the contract.

    `parquet_columns` is a callable returning a Parquet file's column names
    (DuckDB reads the schema); it is only called for Parquet files.
    """

    def fault(message: str) -> FileFault:
        return FileFault(feed.name, month, path.name, message)

    lower = path.name.lower()
    if lower.endswith(".parquet"):
        try:
            header = tuple(parquet_columns(path))
        except Exception as exc:  # DuckDB raises several kinds for a broken Parquet file
            raise fault(f"unreadable Parquet file ({str(exc).splitlines()[0]})") from exc
        mapping, extra = map_header(feed, header, fault)
        return FileSpec(path, "parquet", "none", None, header, mapping, extra)

    gz = lower.endswith(".gz")
    if path.stat().st_size == 0:
        raise fault("empty file: zero bytes, no header row")
    head = _read_head(path, gz, fault)
    line = _header_line(head, fault)
    delimiter, header = _split_header(line)
    mapping, extra = map_header(feed, header, fault)
    return FileSpec(path, "csv", "gzip" if gz else "none", delimiter, header, mapping, extra)
