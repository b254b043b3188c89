"""Instants as int64 epoch seconds: time-zone offsets, local calendar fields and text forms.

Every timestamp the generator handles is a UTC instant in whole seconds held in
an int64 numpy array; `NAT` (numpy's NaT bit pattern) marks a null. Local wall
time is the instant plus the zone's offset at that instant, so the conversion
is a `searchsorted` over the zone's transitions, never a per-row call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.generate.text import fixed_strings

NAT = np.iinfo(np.int64).min
DAY = 86_400
HOUR = 3_600

# Text forms a timestamp cell can take (see `render_timestamps`).
TS_FORMS = ("local", "local_t_minutes", "utc_z", "fixed_plus5", "local_offset")


@dataclass(frozen=True)
class Zone:
    """A time zone's offsets as a step function of the UTC instant."""

    name: str
    transitions: np.ndarray  # int64 instants where an offset starts (first = -inf)
    offsets_s: np.ndarray  # int64 offset in seconds from that instant on

    @classmethod
    def build(cls, name: str, start: int, end: int) -> "Zone":
        """Find every offset change in [start, end] by daily sampling and bisection."""
        zone = ZoneInfo(name)

        def offset(t: int) -> int:
            return int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())

        transitions, offsets = [NAT], [offset(start)]
        prev_t, prev_off = start, offsets[0]
        for t in range(start + DAY, end + 2 * DAY, DAY):
            off = offset(t)
            if off != prev_off:
                lo, hi = prev_t, t
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if offset(mid) == prev_off:
                        lo = mid
                    else:
                        hi = mid
                transitions.append(hi)
                offsets.append(off)
            prev_t, prev_off = t, off
        return cls(name, np.array(transitions, dtype=np.int64), np.array(offsets, dtype=np.int64))

    def offsets(self, t: np.ndarray) -> np.ndarray:
        """Offset in seconds at each instant (0 where null)."""
        i = np.searchsorted(self.transitions, t, side="right") - 1
        return np.where(t == NAT, 0, self.offsets_s[np.maximum(i, 0)])

    def to_local(self, t: np.ndarray) -> np.ndarray:
        """Local wall time as seconds since the epoch; nulls stay null."""
        return np.where(t == NAT, NAT, t + self.offsets(t))

    def from_local(self, wall: np.ndarray) -> np.ndarray:
        """The instant a local wall time denotes (the earlier one in a repeated hour)."""
        guess = wall - self.offsets(wall)
        return wall - self.offsets(guess)

    def local_days(self, t: np.ndarray) -> np.ndarray:
        """Local calendar day number (days since 1970-01-01); null stays null."""
        return np.where(t == NAT, NAT, np.floor_divide(self.to_local(t), DAY))

    def month_start(self, year: int, month: int) -> int:
        """First instant of a local calendar month."""
        return int(datetime(year, month, 1, tzinfo=ZoneInfo(self.name)).timestamp())


def month_start_utc(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp())


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of day numbers (proleptic Gregorian; H. Hinnant's algorithm)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


@lru_cache(maxsize=None)
def clock_table(seconds: bool) -> np.ndarray:
    """`HH:MM:SS` for every second of a day, or `HH:MM` for every minute."""
    if seconds:
        return np.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}".encode() for s in range(DAY)],
            dtype="S8",
        )
    return np.array([f"{m // 60:02d}:{m % 60:02d}".encode() for m in range(DAY // 60)], dtype="S5")


def date_pieces(days: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD` of day numbers, formatted once per distinct day and looked up."""
    if len(days) == 0:
        return np.zeros(0, dtype="S10")
    first, last = int(days.min()), int(days.max())
    span = np.arange(first, last + 1)
    year, month, day = civil_from_days(span)
    table = np.array(
        [f"{y:04d}-{m:02d}-{d:02d}".encode() for y, m, d in zip(year, month, day)], dtype="S10"
    )
    return table[days - first]


def offset_pieces(offsets: np.ndarray) -> np.ndarray:
    """`+HH:MM` of offsets in seconds, formatted once per distinct offset."""
    distinct, inverse = np.unique(offsets, return_inverse=True)
    words = [
        f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) // 60 % 60:02d}".encode()
        for o in distinct
    ]
    return np.array(words, dtype="S6")[inverse]


def format_wall(
    wall: np.ndarray, *, sep: str = " ", seconds: bool = True, suffix: str | np.ndarray = ""
) -> pa.Array:
    """Wall times (epoch-second numbers) as `YYYY-MM-DD HH:MM[:SS]` plus a suffix.

    `suffix` is a fixed string or, for per-row UTC offsets, an int64 array of
    offset seconds rendered as `+HH:MM`.
    """
    valid = wall != NAT
    w = np.where(valid, wall, np.max(wall, initial=0) if valid.any() else 0)
    days, sod = np.divmod(w, DAY)
    clock = clock_table(seconds)[sod if seconds else sod // 60]
    pieces = [date_pieces(days), sep.encode(), clock]
    if isinstance(suffix, str):
        if suffix:
            pieces.append(suffix.encode())
    else:
        pieces.append(offset_pieces(np.where(valid, suffix, 0)))
    return fixed_strings(pieces, len(w), valid)


def format_dates(days: np.ndarray) -> pa.Array:
    """Day numbers as `YYYY-MM-DD`; null stays null."""
    valid = days != NAT
    d = np.where(valid, days, np.max(days, initial=0) if valid.any() else 0)
    return fixed_strings([date_pieces(d)], len(d), valid)


def format_instants(t: np.ndarray, zone: Zone, form: str) -> pa.Array:
    """Instants in one text form; every form denotes the same instant in `zone`."""
    valid = t != NAT
    if form == "local":
        return format_wall(zone.to_local(t))
    if form == "local_t_minutes":
        return format_wall(zone.to_local(t), sep="T", seconds=False)
    if form == "utc_z":
        return format_wall(t, sep="T", suffix="Z")
    if form == "fixed_plus5":
        return format_wall(np.where(valid, t + 5 * HOUR, NAT), sep="T", suffix="+05:00")
    if form == "local_offset":
        return format_wall(zone.to_local(t), sep="T", suffix=zone.offsets(t))
    raise ValueError(f"unknown timestamp form {form!r}; forms are {', '.join(TS_FORMS)}")


def render_timestamps(
    t: np.ndarray, zone: Zone, main: str, alt_form: np.ndarray | None
) -> pa.Array:
    """Instants in the file's main form, with some cells in other forms.

    `alt_form` holds, per row, an index into TS_FORMS or -1 for the main form.
    """
    out = format_instants(t, zone, main)
    if alt_form is None:
        return out
    for k, form in enumerate(TS_FORMS):
        mask = alt_form == k
        if form == main or not mask.any():
            continue
        out = pc.replace_with_mask(out, pa.array(mask), format_instants(t[mask], zone, form))
    return out
