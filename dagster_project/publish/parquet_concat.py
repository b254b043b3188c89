"""Concatenate Parquet files of one schema into one file without re-encoding.

A Parquet file is `PAR1`, the column chunks of its row groups, a footer
(Thrift compact-encoded FileMetaData), the footer's length and `PAR1`. The
concatenation copies each part's chunk bytes one after the other (the kernel
copies them: no decoding, no compression) and writes one footer listing every
part's row groups, with their byte offsets moved to where the bytes now lie.
Page indexes (optional) are left out of the new footer: their bodies hold
absolute offsets too, and readers work without them.

This keeps publishing `fct_declarations.parquet` proportional to the bytes of
history rather than to re-encoding it: a month that did not change is written
once, into its part, and only copied afterwards.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"PAR1"

# Thrift compact protocol type ids
BOOL_TRUE, BOOL_FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)

# Field ids of the parquet.thrift structs this module edits.
FMD_NUM_ROWS, FMD_ROW_GROUPS = 3, 4
RG_COLUMNS, RG_FILE_OFFSET, RG_ORDINAL = 1, 5, 7
CC_FILE_OFFSET, CC_META_DATA = 2, 3
CC_PAGE_INDEX_FIELDS = (4, 5, 6, 7)  # offset/column index offset and length
CMD_OFFSET_FIELDS = (9, 10, 11, 14)  # data, index, dictionary page and bloom filter offsets


class ParquetFormatError(ValueError):
    pass


@dataclass
class Field:
    fid: int
    type: int
    value: object  # int | bool | bytes | list[Field] (struct) | tuple[int, list] (list/set) | tuple (map)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def value(self, kind: int) -> object:
        if kind in (BOOL_TRUE, BOOL_FALSE):  # only inside lists/maps: one byte
            return self.byte() == BOOL_TRUE
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            return self.take(8)
        if kind == BINARY:
            return self.take(self.varint())
        if kind in (LIST, SET):
            header = self.byte()
            size, elem = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            return (elem, [self.value(elem) for _ in range(size)])
        if kind == MAP:
            size = self.varint()
            if not size:
                return (0, 0, [])
            types = self.byte()
            kt, vt = types >> 4, types & 0x0F
            return (kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)])
        if kind == STRUCT:
            return self.struct()
        raise ParquetFormatError(f"unknown Thrift compact type {kind}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            kind, delta = header & 0x0F, header >> 4
            fid = last + delta if delta else self.zigzag()
            if kind in (BOOL_TRUE, BOOL_FALSE):
                fields.append(Field(fid, kind, kind == BOOL_TRUE))
            else:
                fields.append(Field(fid, kind, self.value(kind)))
            last = fid


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while True:
            if n < 0x80:
                self.out.append(n)
                return
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, kind: int, value: object) -> None:
        if kind in (BOOL_TRUE, BOOL_FALSE):
            self.out.append(BOOL_TRUE if value else BOOL_FALSE)
        elif kind == BYTE:
            self.out.append(value & 0xFF)
        elif kind in (I16, I32, I64):
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += value
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            elem, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | elem)
            else:
                self.out.append(0xF0 | elem)
                self.varint(len(items))
            for item in items:
                self.value(elem, item)
        elif kind == MAP:
            kt, vt, items = value
            self.varint(len(items))
            if items:
                self.out.append(kt << 4 | vt)
                for k, v in items:
                    self.value(kt, k)
                    self.value(vt, v)
        elif kind == STRUCT:
            self.struct(value)
        else:
            raise ParquetFormatError(f"unknown Thrift compact type {kind}")

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for f in fields:
            kind = (BOOL_TRUE if f.value else BOOL_FALSE) if f.type in (BOOL_TRUE, BOOL_FALSE) else f.type
            delta = f.fid - last
            if 0 < delta <= 15:
                self.out.append(delta << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(f.fid)
            if f.type not in (BOOL_TRUE, BOOL_FALSE):
                self.value(f.type, f.value)
            last = f.fid
        self.out.append(0)


def decode_struct(data: bytes) -> list[Field]:
    return _Reader(data).struct()


def encode_struct(fields: list[Field]) -> bytes:
    w = _Writer()
    w.struct(fields)
    return bytes(w.out)


def _get(fields: list[Field], fid: int) -> Field | None:
    return next((f for f in fields if f.fid == fid), None)


@dataclass
class _Part:
    path: Path
    body_start: int  # 4
    body_end: int  # first byte of the footer
    meta: list[Field]


def read_part(path: Path) -> _Part:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(size - 8)
        tail = fh.read(8)
        (footer_len,) = struct.unpack("<I", tail[:4])
        if head != MAGIC or tail[4:] != MAGIC or footer_len + 12 > size:
            raise ParquetFormatError(f"{path} is not a Parquet file")
        fh.seek(size - 8 - footer_len)
        footer = fh.read(footer_len)
    return _Part(path, 4, size - 8 - footer_len, decode_struct(footer))


def _shift_row_group(rg: list[Field], delta: int, ordinal: int) -> list[Field]:
    out: list[Field] = []
    for f in rg:
        if f.fid == RG_COLUMNS:
            elem, chunks = f.value
            out.append(Field(f.fid, f.type, (elem, [_shift_chunk(c, delta) for c in chunks])))
        elif f.fid == RG_FILE_OFFSET and f.value:
            out.append(Field(f.fid, f.type, f.value + delta))
        elif f.fid == RG_ORDINAL:
            out.append(Field(f.fid, f.type, ordinal))
        else:
            out.append(f)
    return out


def _shift_chunk(chunk: list[Field], delta: int) -> list[Field]:
    out: list[Field] = []
    for f in chunk:
        if f.fid in CC_PAGE_INDEX_FIELDS:
            continue
        if f.fid == CC_FILE_OFFSET and f.value:
            out.append(Field(f.fid, f.type, f.value + delta))
        elif f.fid == CC_META_DATA:
            out.append(Field(f.fid, f.type, [
                Field(m.fid, m.type, m.value + delta) if m.fid in CMD_OFFSET_FIELDS and m.value else m
                for m in f.value
            ]))
        else:
            out.append(f)
    return out


def _schema_of(meta: list[Field]) -> bytes:
    schema = _get(meta, 2)
    return encode_struct([schema]) if schema else b""


def concat_parquet(parts: list[Path], out: Path) -> int:
    """Write the parts' rows, in order, as one Parquet file at `out`; returns the row count.
    Every part must have the same schema. At least one part is needed."""
    if not parts:
        raise ValueError("concat_parquet needs at least one part")
    read = [read_part(p) for p in parts]
    schema = _schema_of(read[0].meta)
    for p in read[1:]:
        if _schema_of(p.meta) != schema:
            raise ParquetFormatError(f"{p.path} has another schema than {read[0].path}")
    row_groups: list[list[Field]] = []
    rows = 0
    with open(out, "wb") as dst:
        dst.write(MAGIC)
        for p in read:
            delta = dst.tell() - p.body_start
            with open(p.path, "rb") as src:
                _copy_range(src, dst, p.body_start, p.body_end - p.body_start)
            rg_field = _get(p.meta, FMD_ROW_GROUPS)
            for rg in rg_field.value[1] if rg_field else []:
                row_groups.append(_shift_row_group(rg, delta, len(row_groups)))
            rows += _get(p.meta, FMD_NUM_ROWS).value
        meta: list[Field] = []
        for f in read[0].meta:
            if f.fid == FMD_NUM_ROWS:
                meta.append(Field(f.fid, f.type, rows))
            elif f.fid == FMD_ROW_GROUPS:
                meta.append(Field(f.fid, f.type, (STRUCT, row_groups)))
            else:
                meta.append(f)
        if _get(meta, FMD_ROW_GROUPS) is None:  # the first part had no row group list at all
            meta.append(Field(FMD_ROW_GROUPS, LIST, (STRUCT, row_groups)))
            meta.sort(key=lambda f: f.fid)
        footer = encode_struct(meta)
        dst.write(footer)
        dst.write(struct.pack("<I", len(footer)))
        dst.write(MAGIC)
    return rows


def _copy_range(src, dst, offset: int, length: int) -> None:
    """Copy bytes file to file in the kernel where it can (copy_file_range), else through a buffer."""
    dst.flush()
    remaining = length
    src_pos, dst_pos = offset, dst.tell()
    try:
        while remaining:
            n = os.copy_file_range(src.fileno(), dst.fileno(), remaining, src_pos, dst_pos)
            if n == 0:
                break
            src_pos += n
            dst_pos += n
            remaining -= n
        dst.seek(dst_pos)
    except (AttributeError, OSError):
        src.seek(src_pos)
        dst.seek(dst_pos)
    while remaining:
        chunk = src.read(min(remaining, 1 << 24))
        if not chunk:
            raise ParquetFormatError(f"{src.name} ended early")
        dst.write(chunk)
        remaining -= len(chunk)


def nullable_query(select: str) -> str:
    """`select` rewritten so that DuckDB writes every column as OPTIONAL.

    DuckDB marks a Parquet column REQUIRED when its statistics show no NULL,
    which depends on the rows: two months could get different schemas and
    could not be concatenated. One padding row of NULLs, removed by a filter
    the optimizer cannot fold, keeps every column nullable."""
    return (
        f"SELECT * EXCLUDE (_pad) FROM (SELECT *, false AS _pad FROM ({select}) "
        "UNION ALL BY NAME SELECT random() < 2 AS _pad) WHERE NOT _pad"
    )
