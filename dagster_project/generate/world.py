"""The population behind the feeds: traders, and the AEO register's full history.

Everything here is drawn once per run; the monthly feeds sample from it. The
register history is the truth as of the run's end (`as_of`); each monthly
snapshot shows it as of that month's end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dagster_project.generate.text import padded_ints
from dagster_project.generate.errors import GeneratorError
from dagster_project.generate.frame import Frame
from dagster_project.generate.timefmt import DAY, HOUR, NAT, Zone

FOREVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Period:
    """The months of a run and their bounds in the administration's zone."""

    months: tuple[int, ...]  # year * 12 + month - 1
    starts: np.ndarray  # int64 first instant of each month, plus the end of the last
    zone: Zone

    @property
    def as_of(self) -> int:
        """The instant the extracts were taken: the end of the last month."""
        return int(self.starts[-1])

    def bounds(self, i: int) -> tuple[int, int]:
        return int(self.starts[i]), int(self.starts[i + 1])


@dataclass(frozen=True)
class Traders:
    ids: pa.Array  # text ids with leading zeros
    weight: np.ndarray  # activity, for sampling declarants
    scale: np.ndarray  # trade-value multiplier per trader
    aeo_from: np.ndarray  # local day the certificate starts (FOREVER = never)
    aeo_to: np.ndarray  # local day it ends, exclusive (FOREVER = open)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n traders drawn by activity (counts per trader, then shuffled)."""
        counts = rng.multinomial(n, self.weight / self.weight.sum())
        picked = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        rng.shuffle(picked)
        return picked.astype(np.int64)

    def is_aeo(self, trader: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (self.aeo_from[trader] <= day) & (day < self.aeo_to[trader])


def trader_count(declarations_per_month: int) -> int:
    return int(np.clip(round(declarations_per_month * 0.4), 300, 200_000))


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 for day numbers since 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


def sample_instants(
    rng: np.random.Generator, n: int, start: int, end: int, zone: Zone, profile: str = "clearance"
) -> np.ndarray:
    """Instants in [start, end) with a local weekly and daily rhythm.

    profile: `clearance` (round the clock, busiest by day, quieter at weekends),
    `office` (working hours on weekdays), `any` (uniform).
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if profile == "any":
        return np.sort(rng.integers(start, end, n))
    day0 = int(zone.local_days(np.array([start]))[0])
    day1 = int(zone.local_days(np.array([end - 1]))[0]) + 1
    days = np.arange(day0, day1)
    wd = weekday(days)
    if profile == "office":
        w = np.where(wd < 5, 1.0, 0.04)
        tod = np.clip(rng.normal(12.8, 2.4, n), 8.5, 18.5) * HOUR
    else:
        w = np.select([wd < 5, wd == 5], [1.0, 0.45], 0.25)
        day_time = np.mod(rng.normal(12.5, 3.2, n), 24.0)
        tod = np.where(rng.random(n) < 0.8, day_time, rng.random(n) * 24.0) * HOUR
    cdf = np.cumsum(w)
    pick = days[np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")]
    wall = pick * DAY + tod.astype(np.int64)
    return np.clip(zone.from_local(wall), start, end - 1)


def office_hours(rng: np.random.Generator, t: np.ndarray, zone: Zone) -> np.ndarray:
    """The same local day, at a time in working hours."""
    tod = (np.clip(rng.normal(12.8, 2.4, len(t)), 8.5, 18.5) * HOUR).astype(np.int64)
    return zone.from_local(zone.local_days(t) * DAY + tod)


def make_traders_base(rng: np.random.Generator, n: int) -> tuple[pa.Array, np.ndarray]:
    """Trader ids (9 digits, leading zeros) and activity weights (heavy-tailed)."""
    drawn = np.unique(rng.integers(1, 100_000_000, size=n + n // 10 + 10))
    while len(drawn) < n:
        drawn = np.unique(np.concatenate([drawn, rng.integers(1, 100_000_000, size=n)]))
    numbers = np.sort(drawn[rng.permutation(len(drawn))[:n]])
    ids = padded_ints(numbers, 9)
    weight = rng.lognormal(0.0, 1.6, n)
    return ids, weight


@dataclass(frozen=True)
class Register:
    """AEO applications: the full history (decisions after `as_of` included, hidden by snapshots)."""

    apps: Frame

    def snapshot(self, end: int, end_day: int) -> Frame:
        """The register as of an instant: submitted before it, decided before it or PENDING."""
        a = self.apps.take(np.flatnonzero(self.apps["submitted_at"] < end))
        decided = a["decided_at"] < end
        a["decision"] = np.where(decided, a["decision"], 0)
        for col in ("decided_at", "valid_from", "valid_to"):
            a[col] = np.where(decided, a[col], NAT)
        a["revoked_at"] = np.where(decided & (a["revoked_at"] < end_day), a["revoked_at"], NAT)
        return a


def lag_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Submission to decision: weeks (median about six and a half)."""
    days = np.clip(rng.lognormal(np.log(45.0), 0.35, n), 14.0, 150.0)
    return (days * DAY).astype(np.int64)


def build_register(rng: np.random.Generator, period: Period, weight: np.ndarray) -> Frame:
    """Applications before and during the run, with decisions, validity and revocations."""
    n = len(weight)
    zone = period.zone
    order = np.argsort(rng.exponential(size=n) / weight**0.9, kind="stable")
    start = int(period.starts[0])
    # Historic certificates: about one trader in twenty, the bigger ones first.
    n_hist_ok = max(3, round(n * 0.05))
    n_hist_no = max(2, round(n * 0.015))
    lam = max(1.0, n * 0.0035)
    decision_months = len(period.months) + 2
    approvals = 1 + rng.poisson(lam - 1.0, decision_months)
    rejections = rng.poisson(lam * 0.15, decision_months)
    withdrawals = rng.poisson(lam * 0.10, decision_months)
    n_new = int(approvals.sum() + rejections.sum() + withdrawals.sum())
    total = n_hist_ok + n_hist_no + n_new
    if total > n:
        raise GeneratorError(
            f"{total} AEO applications for {n} traders: too many months for this many declarations per month"
        )
    traders = order[:total]

    hist_sub = rng.integers(start - 6 * 365 * DAY, start - 60 * DAY, n_hist_ok + n_hist_no)
    hist_sub = office_hours(rng, hist_sub, zone)
    hist_dec = office_hours(rng, hist_sub + lag_seconds(rng, len(hist_sub)), zone)
    hist_decision = np.concatenate(
        [
            np.full(n_hist_ok, 1),
            np.where(rng.random(n_hist_no) < 0.6, 2, 3),
        ]
    )

    month_len = 30 * DAY
    month_starts = np.concatenate([period.starts[:-1], period.as_of + np.arange(2) * month_len])
    month_ends = np.concatenate([period.starts[1:], period.as_of + np.arange(1, 3) * month_len])
    per_month = approvals + rejections + withdrawals
    which = np.repeat(np.arange(decision_months), per_month)
    new_dec = month_starts[which] + (
        rng.random(n_new) * (month_ends[which] - month_starts[which])
    ).astype(np.int64)
    kind = np.repeat(
        np.tile([1, 2, 3], decision_months),
        np.stack([approvals, rejections, withdrawals], 1).ravel(),
    )
    new_dec = office_hours(rng, new_dec, zone)
    new_sub = office_hours(rng, new_dec - lag_seconds(rng, n_new), zone)

    submitted = np.concatenate([hist_sub, new_sub])
    decided = np.concatenate([hist_dec, new_dec])
    decision = np.concatenate([hist_decision, kind]).astype(np.int64)

    # A few traders turned down before apply again during the run.
    refused = np.flatnonzero(hist_decision > 1)
    newcomers = n_hist_ok + n_hist_no + np.flatnonzero(kind == 1)
    k = min(len(refused), max(1, len(newcomers) // 15))
    if k and len(newcomers):
        again = rng.choice(refused, size=k, replace=False)
        slots = rng.choice(newcomers, size=k, replace=False)
        ok = decided[again] + 30 * DAY < submitted[slots]
        traders[slots[ok]] = traders[again[ok]]

    approved = decision == 1
    valid_from = np.where(approved, zone.local_days(decided) + 1, NAT)
    limited = approved & (rng.random(total) < 0.15)
    valid_to = np.where(limited, valid_from + 3 * 365, NAT)
    as_of_day = int(zone.local_days(np.array([period.as_of]))[0])
    first_day = int(zone.local_days(np.array([start]))[0])
    revocable = np.flatnonzero(approved & (valid_from < as_of_day - 90) & (valid_to == NAT))
    revoked_at = np.full(total, NAT)
    if len(revocable) >= 5:
        k = max(1, round(len(revocable) * 0.04))
        chosen = rng.choice(revocable, size=k, replace=False)
        lo = np.maximum(valid_from[chosen] + 60, first_day)
        revoked_at[chosen] = lo + (rng.random(k) * np.maximum(as_of_day - 1 - lo, 1)).astype(
            np.int64
        )

    seq = np.empty(total, dtype=np.int64)
    seq[np.argsort(submitted, kind="stable")] = np.arange(1, total + 1)
    apps = Frame(
        {
            "application_id": seq,
            "trader_id": traders.astype(np.int64),
            "submitted_at": submitted,
            "decision": decision,
            "decided_at": decided,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "revoked_at": revoked_at,
        }
    )
    return apps.take(np.argsort(seq))


def aeo_intervals(apps: Frame, n: int, as_of: int) -> tuple[np.ndarray, np.ndarray]:
    """Per trader, the local days its certificate covers, as the final snapshot tells it."""
    aeo_from = np.full(n, FOREVER, dtype=np.int64)
    aeo_to = np.full(n, FOREVER, dtype=np.int64)
    ok = np.flatnonzero((apps["decision"] == 1) & (apps["decided_at"] < as_of))
    ends = np.full(len(ok), FOREVER, dtype=np.int64)
    for col in ("valid_to", "revoked_at"):
        v = apps[col][ok]
        ends = np.where(v != NAT, np.minimum(ends, v), ends)
    aeo_from[apps["trader_id"][ok]] = apps["valid_from"][ok]
    aeo_to[apps["trader_id"][ok]] = ends
    return aeo_from, aeo_to


def build_world(
    rng: np.random.Generator, period: Period, declarations_per_month: int
) -> tuple[Traders, Register]:
    n = trader_count(declarations_per_month)
    ids, weight = make_traders_base(rng, n)
    apps = build_register(rng, period, weight)
    aeo_from, aeo_to = aeo_intervals(apps, n, period.as_of)
    # Certified operators are the bigger traders and declare higher values.
    ever_aeo = aeo_from < FOREVER
    scale = np.where(ever_aeo, 2.2, 1.0) * rng.lognormal(0.0, 0.3, n)
    activity = weight * np.where(ever_aeo, 1.6, 1.0)
    traders = Traders(ids, activity, scale, aeo_from, aeo_to)
    return traders, Register(apps)
