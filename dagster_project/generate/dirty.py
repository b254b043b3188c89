"""Row-level faults: extra rows that break exactly one rule of the contract each.

A dirty row is a copy of a clean row of the same feed-month (with a fresh id,
unless the fault is the id) changed in one way. Clean rows are never altered,
so the clean data tell the story untouched and every dirty row is one reject.
How many rows of each kind a month gets follows a fixed rate per feed,
spread evenly over the months (`fault_counts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dagster_project.contract import Feed
from dagster_project.generate.events import APPROVED, PENDING, SERVICE_REQUEST
from dagster_project.generate.frame import Frame
from dagster_project.generate.text import vocab_take
from dagster_project.generate.timefmt import DAY, HOUR, NAT

KINDS = (
    "missing_required",
    "bad_timestamp",
    "bad_number",
    "bad_bool",
    "bad_date",
    "bad_code",
    "bad_country",
    "bad_pattern",
    "out_of_range",
    "too_few_fields",
    "too_many_fields",
    "duplicate_id_in_month",
    "duplicate_id_earlier_month",
    "anchor_outside_month",
    "release_before_lodgement",
    "decided_before_lodged",
    "resolved_before_opened",
    "approved_above_claimed",
    "decided_missing",
    "sr_without_due",
    "approved_without_valid_from",
    "unknown_kpi_id",
    "not_manual_kpi",
    "duplicate_kpi_id",
)
LINE_KINDS = ("too_few_fields", "too_many_fields")

# Faults per clean row, by feed (the small feeds get higher rates so that each kind shows up).
FEED_FAULTS: dict[str, tuple[tuple[str, float], ...]] = {
    "declarations": tuple(
        (k, 1.5e-4)
        for k in (
            "missing_required",
            "bad_timestamp",
            "bad_number",
            "bad_bool",
            "bad_code",
            "bad_country",
            "bad_pattern",
            "out_of_range",
            "too_few_fields",
            "too_many_fields",
            "duplicate_id_in_month",
            "duplicate_id_earlier_month",
            "anchor_outside_month",
            "release_before_lodgement",
        )
    ),
    "lanes": tuple(
        (k, 2.5e-4)
        for k in (
            "missing_required",
            "bad_timestamp",
            "bad_code",
            "anchor_outside_month",
            "too_few_fields",
            "too_many_fields",
        )
    ),
    "drawback": tuple(
        (k, 2.5e-3)
        for k in (
            "missing_required",
            "bad_timestamp",
            "bad_number",
            "bad_code",
            "anchor_outside_month",
            "duplicate_id_in_month",
            "duplicate_id_earlier_month",
            "decided_before_lodged",
            "approved_above_claimed",
            "decided_missing",
        )
    ),
    "tickets": tuple(
        (k, 1.0e-3)
        for k in (
            "missing_required",
            "bad_timestamp",
            "bad_code",
            "anchor_outside_month",
            "too_few_fields",
            "too_many_fields",
            "duplicate_id_in_month",
            "duplicate_id_earlier_month",
            "sr_without_due",
            "resolved_before_opened",
        )
    ),
    "aeo_register": tuple(
        (k, 2.5e-3)
        for k in (
            "missing_required",
            "bad_timestamp",
            "bad_code",
            "bad_date",
            "duplicate_id_in_month",
            "approved_without_valid_from",
            "decided_missing",
        )
    ),
    "manual": tuple(
        (k, 0.02) for k in ("unknown_kpi_id", "not_manual_kpi", "duplicate_kpi_id", "bad_number")
    ),
}

BAD_TIMESTAMPS = (
    "2024-02-30 10:00:00",
    "31.01.2024 10:15",
    "2024-13-02 08:00",
    "25:00 2024-01-15",
    "not recorded",
)
BAD_DECIMALS = ("12,500.00", "1 250,75", "12.5.3", "n/a")
BAD_INTS = ("two", "IV", "4a")
BAD_BOOLS = ("maybe", "ja", "-", "Да")
BAD_DATES = ("2024-02-30", "31.12.2025", "2025-13-01", "unknown")
BAD_COUNTRIES = ("XX", "ZZ", "UK", "EU")
BAD_PATTERNS = ("8471.30", "84713", "HS847130", "84 71 30")
BAD_CODES = {
    "declaration_type": ("IMP", "EXP", "T1"),
    "transport_mode": ("TRUCK", "VESSEL"),
    "lane": ("ORANGE", "AMBER"),
    "selection": ("AUTO",),
    "finding": ("OK",),
    "status": ("OPEN", "CANCELLED"),
    "ticket_type": ("BUG", "CHANGE"),
    "decision": ("GRANTED", "SUSPENDED"),
}
UNKNOWN_KPIS = ("aeo_acceptance_ratng", "advance_ruling", "officer_deployment")
NOT_MANUAL_KPIS = ("system_failures", "paperless_share", "sla_timely_processing_rate")


def fault_counts(
    feed: str, rows_before: int, rows_after: int, phases: dict[str, float]
) -> dict[str, int]:
    """Faults of each kind for a month, from the feed's running row count (even spread, no randomness)."""
    counts = {}
    for kind, rate in FEED_FAULTS.get(feed, ()):
        phase = phases[kind]
        counts[kind] = int(
            np.floor(rate * rows_after + phase) - np.floor(rate * rows_before + phase)
        )
    return counts


@dataclass
class Dirty:
    """A feed-month's rows in file order, with what was injected where."""

    frame: Frame
    kind: np.ndarray  # index into KINDS, -1 for a clean row
    column: np.ndarray  # index into the feed's columns of the faulty value, -1 for none
    cells: dict[
        str, tuple[np.ndarray, pa.Array]
    ]  # column -> (row positions, text replacing the rendered cell)


@dataclass(frozen=True)
class MonthBounds:
    start: int
    end: int


def _columns(feed: Feed, kind: str) -> list[str]:
    """The columns a string-level fault may hit."""
    cols = feed.columns
    pick = {
        "missing_required": lambda c: c.required,
        "bad_timestamp": lambda c: c.type == "timestamp",
        "bad_number": lambda c: c.type in ("decimal", "int"),
        "bad_bool": lambda c: c.type == "bool",
        "bad_date": lambda c: c.type == "date",
        "bad_code": lambda c: c.type == "code" and bool(c.codes),
        "bad_country": lambda c: c.type == "country",
        "bad_pattern": lambda c: c.pattern is not None,
        "unknown_kpi_id": lambda c: c.type == "code" and c.codes_from is not None,
        "not_manual_kpi": lambda c: c.type == "code" and c.codes_from is not None,
        "out_of_range": lambda c: (
            (c.type == "int" and c.max_value is not None) or (c.type == "decimal" and not c.signed)
        ),
    }[kind]
    names = [c.name for c in cols if pick(c)]
    if not names:
        raise ValueError(f"fault {kind} has no column to hit in feed {feed.name}")
    return names


def _bad_text(
    rng: np.random.Generator, feed: Feed, kind: str, column: str, k: int
) -> pa.Array | None:
    if kind == "missing_required":
        return None
    c = feed.column(column)
    choices = {
        "bad_timestamp": BAD_TIMESTAMPS,
        "bad_number": BAD_INTS if c.type == "int" else BAD_DECIMALS,
        "bad_bool": BAD_BOOLS,
        "bad_date": BAD_DATES,
        "bad_code": BAD_CODES.get(column, ("UNKNOWN",)),
        "bad_country": BAD_COUNTRIES,
        "bad_pattern": BAD_PATTERNS,
        "unknown_kpi_id": UNKNOWN_KPIS,
        "not_manual_kpi": NOT_MANUAL_KPIS,
    }[kind]
    return vocab_take(choices, rng.integers(0, len(choices), k))


def _timestamps(feed: Feed) -> list[str]:
    return [c.name for c in feed.columns if c.type == "timestamp"]


def _shift(feed: Feed, rows: Frame, delta: np.ndarray) -> None:
    for col in _timestamps(feed):
        rows[col] = np.where(rows[col] == NAT, NAT, rows[col] + delta)


def _span(rng: np.random.Generator, k: int, lo_h: float, hi_h: float) -> np.ndarray:
    return (rng.uniform(lo_h, hi_h, k) * HOUR).astype(np.int64)


Mutation = Callable[[np.random.Generator, Feed, Frame, MonthBounds], str | None]


def _anchor_outside(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    k = len(rows)
    target = np.where(
        rng.random(k) < 0.5, b.start - _span(rng, k, 1, 72), b.end + _span(rng, k, 1, 72)
    )
    _shift(feed, rows, target - rows[feed.anchor])
    return feed.anchor


def _out_of_range(rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds) -> str | None:
    column = _columns(feed, "out_of_range")
    name = column[int(rng.integers(0, len(column)))]
    c = feed.column(name)
    if c.type == "int":
        rows[name] = np.where(
            rng.random(len(rows)) < 0.5, int(c.max_value) + 1, int(c.min_value) - 1
        )
    else:
        rows[name] = -np.maximum(np.nan_to_num(rows[name]), 1.0)
    return name


def _release_before(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    rows["released_at"] = rows["lodged_at"] - _span(rng, len(rows), 1, 48)
    return "released_at"


def _decide(rows: Frame) -> None:
    """Make a drawback claim decided (APPROVED unless it already had a decision)."""
    rows["status"] = np.where(rows["status"] == PENDING, APPROVED, rows["status"])
    rows["amount_approved"] = np.where(
        (rows["status"] == APPROVED) & np.isnan(rows["amount_approved"]),
        rows["amount_claimed"],
        rows["amount_approved"],
    )


def _decided_before(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    _decide(rows)
    rows["decided_at"] = rows["lodged_at"] - _span(rng, len(rows), 1, 120)
    return "decided_at"


def _approved_above(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    rows["status"] = np.full(len(rows), APPROVED)
    rows["decided_at"] = np.where(
        rows["decided_at"] == NAT, rows["lodged_at"] + 3 * DAY, rows["decided_at"]
    )
    rows["amount_approved"] = np.round(
        rows["amount_claimed"] * rng.uniform(1.05, 1.6, len(rows)), 2
    )
    return "amount_approved"


def _decided_missing(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    if feed.name == "drawback":
        _decide(rows)
    else:
        undecided = rows["decision"] == 0
        rows["decision"] = np.where(undecided, 2, rows["decision"])
    rows["decided_at"] = np.full(len(rows), NAT)
    return "decided_at"


def _sr_without_due(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    rows["ticket_type"] = np.full(len(rows), SERVICE_REQUEST)
    rows["due_at"] = np.full(len(rows), NAT)
    return "due_at"


def _resolved_before(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    rows["resolved_at"] = rows["opened_at"] - _span(rng, len(rows), 0.2, 24)
    return "resolved_at"


def _approved_without_valid_from(
    rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds
) -> str | None:
    decided = rows["decided_at"] == NAT
    rows["decided_at"] = np.where(decided, rows["submitted_at"] + 40 * DAY, rows["decided_at"])
    rows["decision"] = np.full(len(rows), 1)
    for col in ("valid_from", "valid_to", "revoked_at"):
        rows[col] = np.full(len(rows), NAT)
    return "valid_from"


def _line_fault(rng: np.random.Generator, feed: Feed, rows: Frame, b: MonthBounds) -> str | None:
    return None


MUTATIONS: dict[str, Mutation] = {
    "anchor_outside_month": _anchor_outside,
    "out_of_range": _out_of_range,
    "release_before_lodgement": _release_before,
    "decided_before_lodged": _decided_before,
    "approved_above_claimed": _approved_above,
    "decided_missing": _decided_missing,
    "sr_without_due": _sr_without_due,
    "resolved_before_opened": _resolved_before,
    "approved_without_valid_from": _approved_without_valid_from,
    "too_few_fields": _line_fault,
    "too_many_fields": _line_fault,
}
COPY_KINDS = ("duplicate_id_in_month", "duplicate_kpi_id")


@dataclass
class Block:
    """The dirty rows of one kind: copies of clean rows, changed."""

    kind: str
    rows: Frame
    column: str | None  # the faulty column (None: the whole line)
    text: pa.Array | None  # for a string-level fault: the cell text (None: the cell is empty)
    after: np.ndarray  # for a copy: the clean row it must follow (-1: anywhere)
    string_level: bool = False

    @property
    def fresh(self) -> bool:
        """Whether the rows need ids of their own (all but the duplicates)."""
        return self.kind not in COPY_KINDS and self.kind != "duplicate_id_earlier_month"


def make_block(
    rng: np.random.Generator,
    feed: Feed,
    kind: str,
    k: int,
    clean: Frame,
    previous: Frame | None,
    bounds: MonthBounds,
) -> Block | None:
    """k rows with one fault of the kind, from rows of this month (or, for old ids, the month before)."""
    source = previous if kind == "duplicate_id_earlier_month" else clean
    if k <= 0 or source is None or len(source) == 0 or len(clean) == 0:
        return None
    tmpl = rng.integers(0, len(source), k)
    if kind == "approved_without_valid_from":
        approved = np.flatnonzero(source["decision"] == 1)
        tmpl = approved[rng.integers(0, len(approved), k)] if len(approved) else tmpl
    rows = source.take(tmpl)
    if kind == "duplicate_id_earlier_month":
        target = bounds.start + (rng.random(k) * (bounds.end - bounds.start)).astype(np.int64)
        _shift(feed, rows, target - rows[feed.anchor])
        return Block(kind, rows, feed.key, None, np.full(k, -1))
    if kind in COPY_KINDS:
        if kind == "duplicate_kpi_id":
            rows["value"] = rows["value"] + 1.0
        return Block(kind, rows, feed.key, None, tmpl)
    if kind in MUTATIONS:
        return Block(kind, rows, MUTATIONS[kind](rng, feed, rows, bounds), None, np.full(k, -1))
    candidates = _columns(feed, kind)
    column = candidates[int(rng.integers(0, len(candidates)))]
    return Block(
        kind, rows, column, _bad_text(rng, feed, kind, column, k), np.full(k, -1), string_level=True
    )


def fresh_ids(
    feed: Feed, clean: Frame, dirty: Frame, fresh: np.ndarray, fresh_base: int | None
) -> None:
    """Ids after the month's last clean one (or from `fresh_base`) for the rows that need their own."""
    key = feed.key
    if not key or feed.kind == "manual" or not fresh.any():
        return
    if fresh_base is None:
        month = clean[key][0] // 1_000_000_000
        fresh_base = int(month * 1_000_000_000 + (clean[key] % 1_000_000_000).max())
    dirty[key] = np.where(fresh, fresh_base + np.cumsum(fresh), dirty[key])


def inject(
    rng: np.random.Generator,
    feed: Feed,
    clean: Frame,
    counts: dict[str, int],
    bounds: MonthBounds,
    previous: Frame | None,
    fresh_base: int | None = None,
) -> Dirty:
    """Add the month's dirty rows to the clean ones at random places (copies after their original).

    `fresh_base`: where the dirty rows' own ids start; by default after the
    month's last clean id (a snapshot feed passes a range no real id uses).
    """
    n = len(clean)
    blocks = [
        b
        for kind, k in counts.items()
        if (b := make_block(rng, feed, kind, k, clean, previous, bounds)) is not None
    ]
    if not blocks:
        return Dirty(clean, np.full(n, -1), np.full(n, -1), {})
    dirty = Frame.concat(b.rows for b in blocks)
    m = len(dirty)
    sizes = [len(b.rows) for b in blocks]
    fresh_ids(feed, clean, dirty, np.repeat([b.fresh for b in blocks], sizes), fresh_base)

    # File order: clean rows keep theirs; each dirty row goes before a random clean row
    # (a copy somewhere after its original).
    after_row = np.concatenate([b.after for b in blocks])
    pos = rng.integers(0, n + 1, m)
    copies = after_row >= 0
    pos[copies] = (
        after_row[copies]
        + 1
        + (rng.random(copies.sum()) * (n - after_row[copies])).astype(np.int64)
    )
    order = np.argsort(pos, kind="stable")
    sorted_pos = pos[order]
    final_at = np.empty(m, dtype=np.int64)
    final_at[order] = sorted_pos + np.arange(m)

    starts = np.concatenate([[0], np.cumsum(sizes)])
    cells: dict[str, tuple[np.ndarray, pa.Array]] = {}
    for b, lo, hi in zip(blocks, starts[:-1], starts[1:]):
        if b.string_level:
            text = b.text if b.text is not None else pa.nulls(hi - lo, pa.string())
            at, old = cells.get(b.column, (np.zeros(0, np.int64), pa.array([], pa.string())))
            cells[b.column] = (np.concatenate([at, final_at[lo:hi]]), pa.concat_arrays([old, text]))
    for c, (at, text) in cells.items():
        o = np.argsort(at, kind="stable")
        cells[c] = (at[o], text.take(pa.array(o)))

    names = feed.column_names
    kind = np.repeat([KINDS.index(b.kind) for b in blocks], sizes)
    column = np.repeat([names.index(b.column) if b.column else -1 for b in blocks], sizes)
    frame = Frame({c: np.insert(clean[c], sorted_pos, dirty[c][order]) for c in clean.cols})
    return Dirty(
        frame,
        np.insert(np.full(n, -1), sorted_pos, kind[order]),
        np.insert(np.full(n, -1), sorted_pos, column[order]),
        cells,
    )
