"""Deterministic synthetic extracts for every feed of the contract.

`generate` draws a population (traders, the AEO register), then month by
month the event feeds, adds dirty rows, renders every column of the contract
as text and writes `out_dir/<feed>/<YYYY-MM>/<file>`. The bytes depend only on
the arguments: random streams are keyed by (seed, feed, month), gzip carries
mtime 0 and row order is fixed. What was injected is written beside the feed
folders, never inside them: `.generator_manifest.json` (parameters, rows and
faults per feed and kind) and `.generator_faults.csv` (one line per dirty row).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.contract import FEEDS, Column, Feed
from dagster_project.generate import vocab as V
from dagster_project.generate.dirty import (
    FEED_FAULTS,
    KINDS,
    LINE_KINDS,
    Dirty,
    MonthBounds,
    fault_counts,
    inject,
)
from dagster_project.generate.encode import (
    PLAIN,
    FileFormat,
    RawLines,
    csv_lines,
    csv_sink,
    join_fields,
    string_bytes,
    write_csv,
    write_parquet,
)
from dagster_project.generate.errors import GeneratorError
from dagster_project.generate.events import EX, FEED_MONTHS, declarations_month, drawback_month
from dagster_project.generate.frame import Frame
from dagster_project.generate.text import (
    bool_strings,
    decimal_strings,
    fixed_ids,
    int_strings,
    padded_ints,
    quote_needed,
    vocab_take,
)
from dagster_project.generate.timefmt import (
    TS_FORMS,
    Zone,
    format_dates,
    month_start_utc,
    render_timestamps,
)
from dagster_project.generate.world import Period, Register, Traders, build_world

SAMPLE: dict[str, object] = dict(
    month_from="2024-01",
    month_to="2025-12",
    declarations_per_month=1000,
    seed=42,
    tz="UTC",
)

T = TypeVar("T")
R = TypeVar("R")

MANIFEST = ".generator_manifest.json"
SNAPSHOT_FRESH_IDS = 900_000  # dirty register rows get application ids from here (never a real one)
FAULTS_FILE = ".generator_faults.csv"


# ---- random streams -------------------------------------------------------------------


def rng_for(seed: int, *labels: str) -> np.random.Generator:
    """An independent stream per (seed, labels); stable across runs and Python versions."""
    key = tuple(zlib.crc32(label.encode()) for label in labels)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


# ---- months ----------------------------------------------------------------------------


def parse_month(text: str) -> int:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise GeneratorError(f"month {text!r} is not YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(month: int) -> str:
    year, m = divmod(month, 12)
    return f"{year:04d}-{m + 1:02d}"


def make_period(month_from: str, month_to: str, tz: str) -> Period:
    first, last = parse_month(month_from), parse_month(month_to)
    if last < first:
        raise GeneratorError(f"month_to {month_to} is before month_from {month_from}")
    months = tuple(range(first, last + 1))
    span_start = month_start_utc(first // 12 - 7, 1)
    span_end = month_start_utc(last // 12 + 2, 1)
    try:
        zone = Zone.build(tz, span_start, span_end)
    except Exception as exc:
        raise GeneratorError(f"tz {tz!r} is not an IANA time zone") from exc
    starts = np.array(
        [zone.month_start(m // 12, m % 12 + 1) for m in (*months, last + 1)], dtype=np.int64
    )
    return Period(months, starts, zone)


# ---- how each feed-month is written ------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """A feed-month's file format and the look of its values."""

    fmt: FileFormat = PLAIN
    ts_form: str = "local"
    ts_mix: float = 0.0
    bool_pair: tuple[str, str] = ("true", "false")
    lower_codes: bool = False


LEGACY = FileFormat(delimiter=";", newline="\r\n", bom=True, upper_header=True)
BOOL_PAIRS = (("true", "false"), ("1", "0"), ("yes", "no"), ("TRUE", "FALSE"), ("Y", "N"))
TS_FORM_P = (0.70, 0.12, 0.06, 0.06, 0.06)


def parquet_month(months: tuple[int, ...]) -> int:
    """The single feed-month written as Parquet: drawback 2025-03, or the middle month of the run."""
    target = 2025 * 12 + 2
    return target if target in months else months[len(months) // 2]


def plan_style(
    seed: int, feed: str, month: int, months: tuple[int, ...], sample_formats: bool
) -> Style:
    """The file format of one feed-month.

    The old clearance system (before the Single Window) and the AEO register
    export semicolon CSV with a byte-order mark, CRLF and upper-case headers;
    declarations and lanes are gzipped in odd months of 2025 (the register
    from 2025 on, other feeds now and then); April and October declarations
    arrive in two files; one drawback month is Parquet.
    """
    if not sample_formats:
        return Style()
    rng = rng_for(seed, "style", feed, month_label(month))
    ts_form = TS_FORMS[int(rng.choice(len(TS_FORMS), p=TS_FORM_P))]
    bool_pair = BOOL_PAIRS[int(rng.integers(0, len(BOOL_PAIRS)))]
    lower = bool(rng.random() < 0.08)
    legacy_roll, gzip_roll = rng.random(), rng.random()
    calendar = month % 12 + 1
    parts = 2 if feed == "declarations" and calendar in (4, 10) else 1
    if feed == "drawback" and month == parquet_month(months):
        return Style(FileFormat(kind="parquet"), ts_form, 0.03, bool_pair, lower)
    if feed in ("declarations", "lanes") and month < V.GO_LIVE_MONTH:
        return Style(replace(LEGACY, parts=parts), "local", 0.0, ("Y", "N"), False)
    if feed == "aeo_register":
        return Style(replace(LEGACY, gzip=month >= 2025 * 12), "local", 0.0, bool_pair, False)
    gz = feed in ("declarations", "lanes") and month >= 2025 * 12 and calendar % 2 == 1
    if feed not in ("declarations", "lanes") and legacy_roll < 0.15:
        return Style(
            replace(LEGACY, upper_header=False, gzip=gzip_roll < 0.3),
            ts_form,
            0.03,
            bool_pair,
            lower,
        )
    return Style(
        FileFormat(gzip=gz or gzip_roll < 0.1, parts=parts), ts_form, 0.03, bool_pair, lower
    )


# ---- rendering: every contract column needs logic here ---------------------------------------


@dataclass(frozen=True)
class RenderContext:
    zone: Zone
    traders: Traders
    decl_width: int
    small_width: int
    style: Style = field(default_factory=Style)
    rng: np.random.Generator | None = None

    @property
    def delimiter(self) -> str | None:
        """The CSV delimiter text must be quoted against (None for Parquet)."""
        return self.style.fmt.delimiter if self.style.fmt.kind == "csv" else None


Renderer = Callable[[np.ndarray, Frame, RenderContext], pa.Array]


def _hs_codes(values: np.ndarray, frame: Frame, ctx: RenderContext) -> pa.Array:
    """Ten-digit codes cut to each row's width (6, 8 or 10 digits)."""
    text = padded_ints(values, 10)
    width = frame["_hs_width"]
    for w in (8, 6):
        short = width == w
        if short.any():
            cut = padded_ints(values[short] // 10 ** (10 - w), w)
            text = pc.replace_with_mask(text, pa.array(short), cut)
    return text


def _traders(values: np.ndarray, frame: Frame, ctx: RenderContext) -> pa.Array:
    return vocab_take(ctx.traders.ids, values)


def _month_ids(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """Ids held as YYMM * 1e9 + sequence, written `<prefix><YYMM>-<sequence>`; negative is null."""
    valid = values >= 0
    month_code, seq = np.divmod(np.where(valid, values, 0), 1_000_000_000)
    return fixed_ids(prefix, [(month_code, 4), (seq, width)], "-", valid)


def _declaration_ids(values: np.ndarray, frame: Frame, ctx: RenderContext) -> pa.Array:
    return _month_ids("DC", values, ctx.decl_width)


def _vocab(words: tuple[str, ...]) -> Renderer:
    def render_words(values: np.ndarray, frame: Frame, ctx: RenderContext) -> pa.Array:
        return vocab_take(quote_needed(pa.array(list(words), pa.string()), ctx.delimiter), values)

    return render_words


def _ids(prefix: str) -> Renderer:
    return lambda values, frame, ctx: _month_ids(prefix, values, ctx.small_width)


def _application_ids(values: np.ndarray, frame: Frame, ctx: RenderContext) -> pa.Array:
    return fixed_ids("AEO-", [(values, 6)])


# Text columns of the same name hold the same ids in every feed.
SHARED_TEXT: dict[str, Renderer] = {
    "declaration_id": _declaration_ids,
    "trader_id": _traders,
}

# Text columns with logic of their own (before SHARED_TEXT and the key's default).
TEXT_RENDERERS: dict[tuple[str, str], Renderer] = {
    ("declarations", "office_code"): _vocab(V.OFFICES),
    ("declarations", "hs_code"): _hs_codes,
    ("lanes", "rule_id"): _vocab(V.RULE_IDS),
    ("drawback", "claim_id"): _ids("DB"),
    ("tickets", "ticket_id"): _ids("SD"),
    ("tickets", "system"): _vocab(V.SYSTEMS),
    ("aeo_register", "application_id"): _application_ids,
    ("manual", "note"): _vocab(V.MANUAL_NOTES),
}

# Code sets the contract names rather than lists (`codes_from`); listed codes are the contract's own.
CODE_SOURCES: dict[str, tuple[str, ...]] = {"manual_kpis": V.MANUAL_KPIS}


def key_prefix(feed: Feed) -> str:
    """The prefix of a feed's generated ids when it has no renderer of its own: PE for permits."""
    return feed.name[:2].upper()


def text_renderer(feed: Feed, column: Column) -> Renderer | None:
    """A text column's renderer: its own (TEXT_RENDERERS), else the one of its name (SHARED_TEXT),
    else, for the feed's key, month ids `<prefix><YYMM>-<sequence>` from `events.make_ids` values."""
    own = TEXT_RENDERERS.get((feed.name, column.name)) or SHARED_TEXT.get(column.name)
    if own is None and column.name == feed.key:
        return _ids(key_prefix(feed))
    return own


def code_words(column: Column) -> tuple[str, ...]:
    """The words a code column's indexes stand for: the contract's codes, or its named code set."""
    return column.codes or CODE_SOURCES[column.codes_from or ""]


def check_contract() -> None:
    """Every contract column and feed has generator logic, and the weights fit the contract's codes."""
    feeds = {f.name: f for f in FEEDS}
    for name in FEED_MONTHS:
        if name not in feeds:
            raise GeneratorError(
                f"a month function is registered for {name}, not a feed of the contract"
            )
    for feed in FEEDS:
        for c in feed.columns:
            if c.type == "text" and text_renderer(feed, c) is None:
                raise GeneratorError(f"no generator logic for text column {feed.name}.{c.name}")
            if c.type == "code" and not c.codes and c.codes_from not in CODE_SOURCES:
                raise GeneratorError(
                    f"no generator values for the code set {c.codes_from} ({feed.name}.{c.name})"
                )
    for (name, column), tables in V.CODE_WEIGHTS.items():
        if name not in feeds or column not in feeds[name].column_names:
            raise GeneratorError(f"vocab.CODE_WEIGHTS names {name}.{column}, not a contract column")
        n = len(feeds[name].column(column).codes)
        for table in tables:
            if len(table) != n:
                raise GeneratorError(
                    f"a weight table of {name}.{column} in generate/vocab.py has {len(table)} "
                    f"entries, the contract has {n} codes"
                )


def render_column(feed: Feed, column: Column, frame: Frame, ctx: RenderContext) -> pa.Array:
    """One contract column as text: by its text renderer, else by its type (`check_contract` and
    `check_frames` made sure, before anything was drawn, that both exist)."""
    values = frame[column.name]
    style = ctx.style
    if column.type == "text":
        return text_renderer(feed, column)(values, frame, ctx)
    if column.type == "code":
        text = vocab_take(code_words(column), values)
        return pc.utf8_lower(text) if style.lower_codes and column.codes else text
    if column.type == "country":
        return vocab_take(V.PARTNERS, values)
    if column.type == "timestamp":
        alt = None
        if style.ts_mix and ctx.rng is not None:
            n = len(values)
            alt = np.where(
                ctx.rng.random(n) < style.ts_mix, ctx.rng.integers(0, len(TS_FORMS), n), -1
            )
        return render_timestamps(values, ctx.zone, style.ts_form, alt)
    if column.type == "date":
        return format_dates(values)
    if column.type == "decimal":
        return decimal_strings(values.astype(float))
    if column.type == "int":
        return int_strings(values)
    if column.type == "bool":
        yes, no = style.bool_pair
        return bool_strings(values, yes, no)
    raise GeneratorError(f"no generator logic for {feed.name}.{column.name} of type {column.type}")


def render(feed: Feed, dirty: Dirty, ctx: RenderContext, lo: int, hi: int) -> list[pa.Array]:
    """Rows lo..hi of every contract column as text (CSV-quoted where needed), with the injected cells."""
    frame = dirty.frame.slice(lo, hi)
    columns = []
    for c in feed.columns:
        text = render_column(feed, c, frame, ctx)
        if c.name in dirty.cells:
            at, values = dirty.cells[c.name]
            here = np.flatnonzero((at >= lo) & (at < hi))
            if len(here):
                mask = np.zeros(len(text), dtype=bool)
                mask[at[here] - lo] = True
                cells = quote_needed(values.take(pa.array(here)), ctx.delimiter)
                text = pc.replace_with_mask(text, pa.array(mask), cells.cast(text.type))
        columns.append(text)
    return columns


# ---- writing one feed-month ----------------------------------------------------------------

CHUNK_ROWS = 250_000


@dataclass
class Written:
    """What writing one feed-month produced."""

    rows: int
    files: list[str]
    fault_file: np.ndarray  # per dirty row: file name
    fault_record: np.ndarray  # record number in the file (header = 1)
    fault_kind: np.ndarray
    fault_column: np.ndarray


def clear_folder(folder: Path) -> None:
    """A month is re-delivered whole: drop the files a previous run left there."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and not path.name.startswith("."):
            path.unlink()


def line_faults(fields: list[pa.Array], kind: np.ndarray, delimiter: str) -> RawLines | None:
    """Raw text of the lines with too few or too many fields (kind: the rows' fault kinds)."""
    few_k, many_k = KINDS.index("too_few_fields"), KINDS.index("too_many_fields")
    at = np.flatnonzero((kind == few_k) | (kind == many_k))
    if not len(at):
        return None
    sub = [f.take(pa.array(at)) for f in fields]
    few = join_fields(sub[:-1], delimiter)
    many = join_fields(sub + [sub[0]], delimiter)
    return at, pc.if_else(pa.array(kind[at] == few_k), few, many)


def ordered_map(fn: Callable[[T], R], items: list[T], workers: int) -> Iterator[R]:
    """fn over items on a few threads, results in item order, at most `workers` ahead."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_feed_month(
    out_dir: Path,
    feed: Feed,
    month: int,
    dirty: Dirty,
    style: Style,
    context: Callable[[int], RenderContext],
    workers: int = 1,
) -> Written:
    """Render and write one feed-month, chunk by chunk (chunk k renders with `context(k)`)."""
    label = month_label(month)
    folder = out_dir / feed.name / label
    clear_folder(folder)
    fmt = style.fmt
    n = len(dirty.frame)
    cuts = np.linspace(0, n, fmt.parts + 1).round().astype(np.int64)
    files = []
    first_chunk = 0
    for p in range(fmt.parts):
        lo, hi = int(cuts[p]), int(cuts[p + 1])
        name = f"{feed.name}_{label}{f'_part{p + 1}' if fmt.parts > 1 else ''}{fmt.suffix}"
        files.append(name)
        chunks = [
            (first_chunk + k, a, min(hi, a + CHUNK_ROWS))
            for k, a in enumerate(range(lo, hi, CHUNK_ROWS))
        ]
        if fmt.kind == "parquet":
            write_parquet(
                folder / name, feed.column_names, render(feed, dirty, context(first_chunk), lo, hi)
            )
            first_chunk += len(chunks)
            continue
        first_chunk += len(chunks)

        def encoded(chunk: tuple[int, int, int]) -> memoryview:
            k, a, b = chunk
            fields = render(feed, dirty, context(k), a, b)
            return string_bytes(
                csv_lines(fields, fmt, line_faults(fields, dirty.kind[a:b], fmt.delimiter))
            )

        with csv_sink(folder / name, feed.column_names, fmt) as out:
            for data in ordered_map(encoded, chunks, workers):
                out.write(data)
    bad = np.flatnonzero(dirty.kind >= 0)
    part = np.searchsorted(cuts, bad, side="right") - 1
    names = np.array(feed.column_names + [""], dtype=object)
    return Written(
        rows=n,
        files=files,
        fault_file=np.array(files, dtype=object)[part],
        fault_record=bad - cuts[part] + 2,
        fault_kind=np.array(KINDS, dtype=object)[dirty.kind[bad]],
        fault_column=names[dirty.column[bad]],
    )


# ---- the run ------------------------------------------------------------------------------


@dataclass
class FaultLog:
    """The dirty rows of every feed-month written, as columns."""

    feed: list[np.ndarray] = field(default_factory=list)
    month: list[np.ndarray] = field(default_factory=list)
    file: list[np.ndarray] = field(default_factory=list)
    record: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    column: list[np.ndarray] = field(default_factory=list)

    def add(self, feed: str, month: int, w: Written) -> None:
        k = len(w.fault_kind)
        self.feed.append(np.full(k, feed, dtype=object))
        self.month.append(np.full(k, month_label(month), dtype=object))
        self.file.append(w.fault_file)
        self.record.append(w.fault_record)
        self.kind.append(w.fault_kind)
        self.column.append(w.fault_column)

    def columns(self) -> dict[str, np.ndarray]:
        def cat(parts: list[np.ndarray], dtype: object) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return {
            "feed": cat(self.feed, object),
            "month": cat(self.month, object),
            "file": cat(self.file, object),
            "record": cat(self.record, np.int64),
            "kind": cat(self.kind, object),
            "column": cat(self.column, object),
        }


def write_manifest(
    out_dir: Path, params: dict[str, object], rows: dict[str, int], log: FaultLog
) -> None:
    """The run's parameters, rows and faults (JSON), and one line per dirty row (CSV), beside the feeds."""
    cols = log.columns()
    by_feed: dict[str, dict[str, int]] = {}
    for feed in FEEDS:
        mine = cols["kind"][cols["feed"] == feed.name]
        by_feed[feed.name] = {k: int((mine == k).sum()) for k in KINDS if (mine == k).any()}
    totals = {k: int((cols["kind"] == k).sum()) for k in KINDS}
    manifest = {
        "generator": "dagster_project.generate",
        "parameters": params,
        "rows": rows,
        "dirty_rows": int(len(cols["kind"])),
        "faults": {k: v for k, v in totals.items() if v},
        "faults_by_feed": by_feed,
        "faults_file": FAULTS_FILE,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    text = [pa.array(cols[c].tolist(), pa.string()) for c in ("feed", "month", "file")]
    text.append(int_strings(cols["record"]))
    text += [pa.array(cols[c].tolist(), pa.string()) for c in ("kind", "column")]
    write_csv(
        out_dir / FAULTS_FILE, ["feed", "month", "file", "record", "kind", "column"], text, PLAIN
    )


def lanes_of_month(
    new: Frame, carried: list[Frame], period: Period, i: int
) -> tuple[Frame, list[Frame]]:
    """Month i's lane rows (by assignment), sorted; and the rows that belong to later months."""
    bucket = np.searchsorted(period.starts, new["assigned_at"], side="right") - 1
    mine = bucket == i
    parts = carried + [new if mine.all() else new.take(np.flatnonzero(mine))]
    later = bucket > i
    keep = [new.take(np.flatnonzero(later))] if later.any() else []
    lanes = Frame.concat(parts) if len(parts) > 1 else parts[0]
    return lanes.take(np.argsort(lanes["assigned_at"], kind="stable")), keep


def id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(max(count, 1))))


def check_frames(frames: dict[str, Frame]) -> None:
    """Every contract column got values (checked before anything is written)."""
    for feed in FEEDS:
        if feed.name not in frames:
            raise GeneratorError(
                f"no generator logic for feed {feed.name}: no month function "
                f'(@feed_month("{feed.name}") in generate/events.py)'
            )
        missing = [c for c in feed.column_names if c not in frames[feed.name]]
        if missing:
            raise GeneratorError(
                f"no generator logic for {', '.join(f'{feed.name}.{c}' for c in missing)}: "
                "the generator makes no values for it"
            )


@dataclass(frozen=True)
class Run:
    """The fixed inputs of one run."""

    out_dir: Path
    seed: int
    period: Period
    declarations_per_month: int
    traders: Traders
    register: Register
    base: RenderContext
    sample_formats: bool
    dirty: bool
    workers: int


@dataclass
class RunState:
    """What one month hands to the next: lane rows assigned later, recent exports, last clean rows."""

    carried_lanes: list[Frame] = field(default_factory=list)
    exports: list[Frame] = field(default_factory=list)
    previous: dict[str, Frame] = field(default_factory=dict)
    clean_rows: dict[str, int] = field(default_factory=dict)


def month_frames(run: Run, i: int, state: RunState) -> dict[str, Frame]:
    """Every feed's clean rows for month i: the feeds drawn together here, the others
    by their month functions (`events.feed_month`)."""
    period, seed = run.period, run.seed
    label = month_label(period.months[i])
    end = period.bounds(i)[1]
    decl, new_lanes = declarations_month(
        lambda part: rng_for(seed, "declarations", label, part),
        period,
        i,
        run.declarations_per_month,
        run.traders,
        run.workers,
    )
    lanes, state.carried_lanes = lanes_of_month(new_lanes, state.carried_lanes, period, i)
    ex = np.flatnonzero(decl["declaration_type"] == EX)
    state.exports = (
        state.exports
        + [Frame({k: decl[k][ex] for k in ("declaration_id", "trader_id", "lodged_at")})]
    )[-4:]
    n_claims = max(3, round(run.declarations_per_month * 0.035))
    end_day = int(period.zone.local_days(np.array([end - 1]))[0]) + 1
    frames = {
        "declarations": decl,
        "lanes": lanes,
        "drawback": drawback_month(
            rng_for(seed, "drawback", label),
            period,
            i,
            n_claims,
            run.traders,
            Frame.concat(state.exports),
        ),
        "aeo_register": run.register.snapshot(end, end_day),
    }
    # every other feed: its registered month function, on the feed-month's own stream
    for name, month_rows in FEED_MONTHS.items():
        frames[name] = month_rows(rng_for(seed, name, label), period, i, run.declarations_per_month)
    return frames


def chunk_context(
    base: RenderContext, seed: int, feed: str, label: str, style: Style, chunk: int
) -> RenderContext:
    return replace(base, style=style, rng=rng_for(seed, "render", feed, label, str(chunk)))


def emit_feed_month(
    run: Run, feed: Feed, i: int, clean: Frame, state: RunState, phases: dict[str, float]
) -> Written:
    """Add the month's dirty rows to a feed's clean rows and write them."""
    month = run.period.months[i]
    label = month_label(month)
    start, end = run.period.bounds(i)
    style = plan_style(run.seed, feed.name, month, run.period.months, run.sample_formats)
    counts: dict[str, int] = {}
    before = state.clean_rows.get(feed.name, 0)
    if run.dirty:
        counts = fault_counts(feed.name, before, before + len(clean), phases)
        if style.fmt.kind == "parquet":
            counts = {k: (0 if k in LINE_KINDS else v) for k, v in counts.items()}
    state.clean_rows[feed.name] = before + len(clean)
    fresh = SNAPSHOT_FRESH_IDS + 1_000 * i if feed.kind == "snapshot" else None
    injected = inject(
        rng_for(run.seed, "dirty", feed.name, label),
        feed,
        clean,
        counts,
        MonthBounds(start, end),
        state.previous.get(feed.name),
        fresh,
    )
    if feed.kind == "event":
        state.previous[feed.name] = clean
    context = partial(chunk_context, run.base, run.seed, feed.name, label, style)
    return write_feed_month(run.out_dir, feed, month, injected, style, context, run.workers)


def generate(
    out_dir: Path,
    month_from: str,
    month_to: str,
    *,
    declarations_per_month: int = 1000,
    seed: int = 42,
    tz: str = "UTC",
    sample_formats: bool = True,
    dirty: bool = True,
) -> dict[str, int]:
    """Write every feed for months month_from..month_to ('YYYY-MM', inclusive) into
    out_dir/<feed>/<YYYY-MM>/<file>; return rows written per feed."""
    if declarations_per_month < 1:
        raise GeneratorError("declarations_per_month must be at least 1")
    check_contract()
    out_dir = Path(out_dir)
    period = make_period(month_from, month_to, tz)
    traders, register = build_world(rng_for(seed, "world"), period, declarations_per_month)
    base = RenderContext(
        zone=period.zone,
        traders=traders,
        decl_width=id_width(2 * declarations_per_month, 6),
        small_width=id_width(declarations_per_month // 10, 5),
    )
    run = Run(
        out_dir,
        seed,
        period,
        declarations_per_month,
        traders,
        register,
        base,
        sample_formats,
        dirty,
        min(4, os.cpu_count() or 1),
    )
    phases = {
        f.name: dict(
            zip(
                (k for k, _ in FEED_FAULTS.get(f.name, ())),
                rng_for(seed, "phase", f.name).random(len(FEED_FAULTS.get(f.name, ()))),
            )
        )
        for f in FEEDS
    }
    rows = {f.name: 0 for f in FEEDS}
    state = RunState()
    log = FaultLog()
    for i, month in enumerate(period.months):
        frames = month_frames(run, i, state)
        check_frames(frames)
        for feed in FEEDS:
            written = emit_feed_month(run, feed, i, frames[feed.name], state, phases[feed.name])
            rows[feed.name] += written.rows
            log.add(feed.name, month, written)
    params = dict(
        month_from=month_from,
        month_to=month_to,
        declarations_per_month=declarations_per_month,
        seed=seed,
        tz=tz,
        sample_formats=sample_formats,
        dirty=dirty,
    )
    write_manifest(out_dir, params, rows, log)
    return rows
