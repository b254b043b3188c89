"""Numbers, ids and codes to Arrow text columns without per-row Python.

Fixed-width text is assembled in a numpy structured array (one bytes field
per piece, filled by table look-ups such as "0000".."9999") whose buffer is
handed to Arrow as a string array; variable-width numbers are then trimmed
with Arrow's ASCII trim kernels. A null keeps its (ignored) bytes and is
marked in the validity bitmap only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Piece = np.ndarray | bytes


@lru_cache(maxsize=None)
def digit_table(width: int) -> np.ndarray:
    """All zero-padded numbers of 1, 2 or 4 digits, as fixed bytes, indexed by value."""
    return np.array([f"{i:0{width}d}".encode() for i in range(10**width)], dtype=f"S{width}")


def validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def fixed_strings(pieces: Sequence[Piece], n: int, valid: np.ndarray | None = None) -> pa.Array:
    """Concatenate fixed-width pieces (bytes constants or `S` arrays of length n) into strings."""
    widths = [len(p) if isinstance(p, bytes) else p.dtype.itemsize for p in pieces]
    dtype = np.dtype(
        {"names": [f"p{i}" for i in range(len(pieces))], "formats": [f"S{w}" for w in widths]}
    )
    rec = np.empty(n, dtype=dtype)
    for i, piece in enumerate(pieces):
        rec[f"p{i}"] = piece
    width = dtype.itemsize
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = pa.py_buffer(rec.view(np.uint8))
    if offsets[-1] < 2**31 - 1:
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32)), data, validity(valid)
        )
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data, validity(valid))


def digit_pieces(values: np.ndarray, width: int) -> list[np.ndarray]:
    """Zero-padded digits of non-negative ints as pieces of 4, 2 and 1 digits (higher digits dropped)."""
    v = np.asarray(values)
    v = v.astype(np.int32) if len(v) == 0 or int(v.max(initial=0)) < 2**31 else v.astype(np.int64)
    pieces = []
    rest = width
    while rest > 0:
        size = 4 if rest >= 4 else (2 if rest >= 2 else 1)
        v, r = np.divmod(v, 10**size)
        pieces.append(digit_table(size)[r])
        rest -= size
    return pieces[::-1]


def digits_needed(values: np.ndarray) -> int:
    top = int(np.max(values, initial=0))
    return max(1, len(str(top)))


def padded_ints(values: np.ndarray, width: int, valid: np.ndarray | None = None) -> pa.Array:
    """Non-negative ints zero-padded to at least `width` digits (all as wide as the widest)."""
    v = np.asarray(values, dtype=np.int64)
    if valid is not None:
        v = np.where(valid, v, 0)
    return fixed_strings(digit_pieces(v, max(width, digits_needed(v))), len(v), valid)


def fixed_ids(
    prefix: str,
    parts: Sequence[tuple[np.ndarray, int]],
    separator: str = "-",
    valid: np.ndarray | None = None,
) -> pa.Array:
    """`<prefix><part1><sep><part2>...`, each part zero-padded to at least its width."""
    n = len(parts[0][0])
    pieces: list[Piece] = [prefix.encode()]
    for k, (values, width) in enumerate(parts):
        v = np.asarray(values, dtype=np.int64)
        if valid is not None:
            v = np.where(valid, v, 0)
        if k:
            pieces.append(separator.encode())
        pieces += digit_pieces(v, max(width, digits_needed(v)))
    return fixed_strings(pieces, n, valid)


def _with_sign_and_zero(text: pa.Array, negative: np.ndarray, zero_whole: np.ndarray) -> pa.Array:
    """Put back the units zero that trimming removed, and the minus sign."""
    if zero_whole.any():
        text = pc.if_else(pa.array(zero_whole), pc.binary_join_element_wise("0", text, ""), text)
    if negative.any():
        text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return text


def int_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Ints (any sign) as plain text; small non-negative ranges by table look-up."""
    v = np.asarray(values, dtype=np.int64)
    if valid is not None:
        v = np.where(valid, v, 0)
    if len(v) == 0:
        return pa.array([], pa.string())
    lo, hi = int(v.min()), int(v.max())
    if lo >= 0 and hi < 10_000:
        words = pa.array([str(i) for i in range(hi + 1)], pa.string())
        return vocab_take(words, np.where(valid, v, -1) if valid is not None else v)
    mag = np.abs(v)
    text = pc.ascii_ltrim(padded_ints(mag, 1, valid), characters="0")
    return _with_sign_and_zero(text, v < 0, mag == 0)


def decimal_strings(values: np.ndarray, places: int = 2, strip: bool = True) -> pa.Array:
    """Floats as plain decimals (`.` mark, no exponent, no separators); NaN is null.

    With `strip`, trailing zeros of the fraction go (`12.50` -> `12.5`, `7.00` -> `7`).
    """
    v = np.asarray(values, dtype=float)
    valid = ~np.isnan(v)
    scale = 10**places
    scaled = np.rint(np.where(valid, v, 0.0) * scale).astype(np.int64)
    whole, frac = np.divmod(np.abs(scaled), scale)
    pieces: list[Piece] = digit_pieces(whole, digits_needed(whole))
    if places:
        pieces += [b"."] + digit_pieces(frac, places)
    text = pc.ascii_ltrim(fixed_strings(pieces, len(v), valid), characters="0")
    if strip and places:
        text = pc.ascii_rtrim(pc.ascii_rtrim(text, characters="0"), characters=".")
    return _with_sign_and_zero(text, scaled < 0, valid & (whole == 0))


def vocab_take(vocab: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Strings by index into a vocabulary; a negative index is null."""
    table = vocab if isinstance(vocab, pa.Array) else pa.array(list(vocab), pa.string())
    idx = np.asarray(idx, dtype=np.int64)
    valid = idx >= 0
    indices = pa.Array.from_buffers(
        pa.int64(), len(idx), [validity(valid), pa.py_buffer(np.where(valid, idx, 0))]
    )
    return table.take(indices)


def bool_strings(values: np.ndarray, yes: str, no: str) -> pa.Array:
    return vocab_take((no, yes), np.asarray(values).astype(np.int64))


def quote_needed(col: pa.Array, delimiter: str | None) -> pa.Array:
    """CSV-quote the fields that hold the delimiter, a quote or a line break (meant for small arrays)."""
    if delimiter is None:
        return col
    col = col.cast(pa.string())
    needs = pc.match_substring_regex(col, '[\n\r"\\' + delimiter + "]")
    needs = pc.fill_null(needs, False)
    if not pc.any(needs).as_py():
        return col
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)
