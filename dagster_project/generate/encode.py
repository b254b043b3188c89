"""Text columns to CSV, gzip or Parquet files, vectorised and deterministic.

CSV lines are assembled with Arrow compute kernels (`binary_join_element_wise`)
and written straight from the Arrow data buffer, so a file of millions of rows
never passes through a Python loop. (`pyarrow.csv.write_csv` would quote every
text field, or refuse a field holding the delimiter; here only the fields that
need it are quoted.) Fields arrive as text, already quoted where CSV needs it
(`text.quote_needed`); nulls become empty fields. A few lines can be replaced
by raw text (lines with a wrong number of fields). Gzip members carry mtime 0
and no file name, so equal content gives equal bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BOM = b"\xef\xbb\xbf"

RawLines = tuple[
    np.ndarray, pa.Array
]  # sorted row indices, and each one's whole line (no terminator)


@dataclass(frozen=True)
class FileFormat:
    """How one feed-month is written."""

    kind: str = "csv"  # csv | parquet
    delimiter: str = ","
    newline: str = "\n"
    bom: bool = False
    gzip: bool = False
    upper_header: bool = False
    parts: int = 1

    @property
    def suffix(self) -> str:
        if self.kind == "parquet":
            return ".parquet"
        return ".csv.gz" if self.gzip else ".csv"


PLAIN = FileFormat()


def join_fields(fields: Sequence[pa.Array], delimiter: str) -> pa.Array:
    return pc.binary_join_element_wise(
        *fields, delimiter, null_handling="replace", null_replacement=""
    )


def csv_lines(fields: Sequence[pa.Array], fmt: FileFormat, raw: RawLines | None = None) -> pa.Array:
    """One CSV line (with its terminator) per row; `raw` replaces whole lines."""
    lines = pc.binary_join_element_wise(join_fields(fields, fmt.delimiter), "", fmt.newline)
    if raw is not None and len(raw[0]):
        mask = np.zeros(len(lines), dtype=bool)
        mask[raw[0]] = True
        texts = pc.binary_join_element_wise(raw[1], "", fmt.newline)
        lines = pc.replace_with_mask(lines, pa.array(mask), texts.cast(lines.type))
    return lines


def string_bytes(arr: pa.Array) -> memoryview:
    """The concatenated UTF-8 of a string array without nulls, straight from its buffer."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets_buf, data_buf = arr.buffers()
    if data_buf is None or len(arr) == 0:
        return memoryview(b"")
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    return memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])]


@contextmanager
def csv_sink(path: Path, header: Sequence[str], fmt: FileFormat) -> Iterator[BinaryIO]:
    """An open CSV (gzip-compressed if the format says so) with its BOM and header written."""
    with open(path, "wb") as handle:
        stream: BinaryIO = handle
        if fmt.gzip:
            stream = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=6)
        try:
            if fmt.bom:
                stream.write(BOM)
            names = [h.upper() if fmt.upper_header else h for h in header]
            stream.write((fmt.delimiter.join(names) + fmt.newline).encode("utf-8"))
            yield stream
        finally:
            if fmt.gzip:
                stream.close()


def write_csv(
    path: Path, header: Sequence[str], fields: Sequence[pa.Array], fmt: FileFormat = PLAIN
) -> None:
    """A whole (small) CSV in one go."""
    with csv_sink(path, header, fmt) as out:
        if fields and len(fields[0]):
            out.write(string_bytes(csv_lines(fields, fmt)))


def write_parquet(path: Path, header: Sequence[str], columns: Sequence[pa.Array]) -> None:
    """Every column as nullable text, the contract's names, zstd; no statistics."""
    table = pa.table({name: col.cast(pa.string()) for name, col in zip(header, columns)})
    pq.write_table(table, path, compression="zstd", write_statistics=False, store_schema=False)
