"""One month of each feed as typed columns: the story lives here.

The story: a Single Window goes live on 2024-07-01. After it, release times
fall, paperless lodgement rises from about 40 % to 95 %, pre-arrival
lodgement grows and e-document processing gets quicker. AEO uptake grows
month by month; AEOs are about a tenth of traders, carry a large share of the
trade value, get GREEN more often, clear faster and have drawback claims
decided sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from dagster_project.generate import vocab as V
from dagster_project.generate.frame import Frame
from dagster_project.generate.timefmt import DAY, HOUR, NAT
from dagster_project.generate.world import Period, Traders, office_hours, sample_instants

GREEN, YELLOW, RED, BLUE = range(4)
IM, EX, TR = range(3)
RISK, RANDOM, OFFICER = range(3)
NONE, DISCREPANCY, SEIZURE = range(3)
SERVICE_REQUEST, INCIDENT, FAILURE = range(3)
PENDING, APPROVED, PARTIAL, REJECTED = range(4)


# ---- the feeds drawn on their own ----------------------------------------------------

MonthRows = Callable[[np.random.Generator, Period, int, int], Frame]
FEED_MONTHS: dict[str, MonthRows] = {}


def feed_month(feed: str) -> Callable[[MonthRows], MonthRows]:
    """Register `fn(rng, period, i, declarations_per_month) -> Frame` as the generator of `feed`.

    The function returns the clean rows of month i (`period.months[i]`), one
    array per contract column (see `frame.py` for how values are held), drawn
    from `rng`, the feed-month's own stream. `synth.month_frames` calls every
    registered feed; the feeds drawn together with others (declarations and
    their lanes, drawback on earlier exports, the AEO register of the world)
    are called there by name.
    """

    def register(fn: MonthRows) -> MonthRows:
        if feed in FEED_MONTHS:
            raise ValueError(f"feed {feed} already has a month function")
        FEED_MONTHS[feed] = fn
        return fn

    return register


def month_code(month: int) -> int:
    """YYMM of a month number, the prefix of the month's ids."""
    year, m = divmod(month, 12)
    return (year % 100) * 100 + m + 1


def make_ids(month: int, n: int, first: int = 1) -> np.ndarray:
    return month_code(month) * 1_000_000_000 + np.arange(first, first + n, dtype=np.int64)


def choose(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A categorical draw per row, with the row's probabilities taken from probs[group]."""
    cdf = np.cumsum(np.asarray(probs, dtype=float), axis=1)
    cdf /= cdf[:, -1:]
    k = cdf.shape[1]
    u = rng.random(len(group))
    if k <= 8:  # a few comparisons per category beat a search
        picked = np.zeros(len(group), dtype=np.int64)
        for j in range(k - 1):
            picked += u >= (cdf[0, j] if len(cdf) == 1 else np.take(cdf[:, j], group))
        return picked
    flat = (cdf + np.arange(len(cdf))[:, None]).ravel()
    return np.minimum(np.searchsorted(flat, u + group, side="right") - group * k, k - 1).astype(
        np.int64
    )


def draw(rng: np.random.Generator, p: tuple[float, ...] | np.ndarray, n: int) -> np.ndarray:
    return choose(rng, np.asarray([p]), np.zeros(n, dtype=np.int64))


def lognormal_hours(
    rng: np.random.Generator, median_h: np.ndarray | float, sigma: np.ndarray | float, n: int
) -> np.ndarray:
    return np.exp(np.log(median_h) + sigma * rng.standard_normal(n))


# ---- the story's trends (month numbers: year * 12 + month - 1) ------------------


def release_factor(month: int) -> float:
    """Release times relative to the steady state after go-live."""
    if month < V.GO_LIVE_MONTH:
        return 2.4
    if month == V.GO_LIVE_MONTH:
        return 1.3
    return max(0.85, 1.15 - 0.02 * (month - V.GO_LIVE_MONTH - 1))


def paperless_share(month: int) -> float:
    if month < V.GO_LIVE_MONTH:
        return 0.40
    return min(
        0.95,
        (0.70, 0.86, 0.91)[min(month - V.GO_LIVE_MONTH, 2)]
        + 0.005 * max(0, month - V.GO_LIVE_MONTH - 2),
    )


def pre_arrival_share(month: int) -> float:
    return 0.08 if month < V.GO_LIVE_MONTH else min(0.35, 0.18 + 0.01 * (month - V.GO_LIVE_MONTH))


def edoc_median_export(month: int) -> float:
    """Seconds of e-document processing for an export declaration."""
    if month < V.GO_LIVE_MONTH:
        return 11.2
    return max(9.3, 10.6 - 0.06 * (month - V.GO_LIVE_MONTH))


def story_progress(month: int) -> float:
    """0 at 2024-01, 1 at 2025-12 (clipped): slow trends of the manual indicators."""
    return float(np.clip((month - V.STORY_START_MONTH) / 23.0, 0.0, 1.0))


# ---- declarations and lanes ------------------------------------------------------


DECLARATION_CHUNK = 250_000


def declarations_month(
    rng_for: Callable[[str], np.random.Generator],
    period: Period,
    i: int,
    n: int,
    traders: Traders,
    workers: int = 1,
) -> tuple[Frame, Frame]:
    """The month's declarations and every lane row they lead to (any month of assignment).

    Lodgement times are drawn for the whole month; the rest is drawn in chunks
    of rows, each from its own stream (`rng_for(chunk)`), on a few threads.
    """
    start, end = period.bounds(i)
    rng = rng_for("lodged")
    # A few are lodged in the last minutes of the month and channelled after midnight.
    k_late = min(n, max(1, round(n * 0.002))) if i < len(period.months) - 1 else 0
    lodged = np.sort(
        np.concatenate(
            [
                sample_instants(rng, n - k_late, start, end, period.zone, "clearance"),
                end - rng.integers(60, 1_200, k_late),
            ]
        )
    )
    late = lodged >= end - 1_200 if k_late else np.zeros(n, dtype=bool)
    cuts = list(range(0, n, DECLARATION_CHUNK)) + [n]

    def chunk(k: int) -> tuple[Frame, Frame]:
        lo, hi = cuts[k], cuts[k + 1]
        return declarations_chunk(
            rng_for(str(k)), period, i, lodged[lo:hi], late[lo:hi], lo + 1, traders
        )

    if workers > 1 and len(cuts) > 2:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(chunk, range(len(cuts) - 1)))
    else:
        parts = [chunk(k) for k in range(len(cuts) - 1)]
    if len(parts) == 1:
        return parts[0]
    return Frame.concat(p[0] for p in parts), Frame.concat(p[1] for p in parts)


@lru_cache(maxsize=None)
def office_table() -> tuple[np.ndarray, np.ndarray]:
    """Offices by transport mode, as a padded table and the count per mode."""
    table = np.full((len(V.MODES), max(map(len, V.OFFICES_BY_MODE))), -1)
    for k, offices in enumerate(V.OFFICES_BY_MODE):
        table[k, : len(offices)] = offices
    return table, np.array([len(o) for o in V.OFFICES_BY_MODE])


def goods(
    rng: np.random.Generator, month: int, trader: np.ndarray, aeo: np.ndarray, traders: Traders
) -> dict[str, np.ndarray]:
    """What was declared: type, mode, office, category, partner, commodity, values, e-document time."""
    n = len(trader)
    dtype = draw(rng, V.TYPE_P, n)
    mode = choose(rng, np.array(V.MODE_P_BY_TYPE), dtype)
    table, count = office_table()
    office = table[mode, (rng.random(n) * count[mode]).astype(np.int64)]
    category = 1 + np.where(
        mode == V.MODES.index("POST"),
        draw(rng, V.CATEGORY_P_POST, n),
        draw(rng, V.CATEGORY_P_OTHER, n),
    )
    paperless = rng.random(n) < np.minimum(0.99, paperless_share(month) + 0.12 * aeo)
    partner = choose(rng, np.array(V.PARTNER_W_BY_TYPE), dtype)

    chapter_w = 1.0 / np.arange(1, len(V.HS_CHAPTERS) + 1) ** 0.7
    chapter = np.array(V.HS_CHAPTERS)[draw(rng, chapter_w, n)]
    hs = chapter * 100_000_000 + rng.integers(1, 90, n) * 1_000_000 + rng.integers(0, 1_000_000, n)
    hs_width = np.array([10, 8, 6])[draw(rng, (0.8, 0.12, 0.08), n)]

    cat0 = category - 1
    value = np.exp(
        np.log(V.VALUE_MEDIAN_BY_CATEGORY[cat0])
        + V.VALUE_SIGMA_BY_CATEGORY[cat0] * rng.standard_normal(n)
    )
    value = np.round(value * np.where(category >= 3, traders.scale[trader], 1.0), 2)
    duty_rate = np.array([0.0, 0.05, 0.10, 0.15])[rng.integers(0, 4, n)] + 0.12
    duty = np.where(
        dtype == IM, np.where(category >= 3, np.round(value * duty_rate, 2), 0.0), np.nan
    )
    fee = np.array([500.0, 2_000.0, 5_000.0, 15_000.0])[cat0]
    cost = np.round(fee * np.where(aeo, 0.75, 1.0) * rng.lognormal(0.0, 0.25, n), 2)
    cost = np.where(rng.random(n) < 0.04, np.nan, cost)
    edoc_median = edoc_median_export(month) * np.array([1.1, 1.0, 0.9])[dtype]
    edoc_month = 1.0 + 0.03 * rng.standard_normal()
    edoc = np.round(edoc_median * edoc_month * rng.lognormal(0.0, 0.12, n), 2)
    edoc = np.where(rng.random(n) < 0.02, np.nan, edoc)
    return {
        "declaration_type": dtype,
        "office_code": office,
        "transport_mode": mode,
        "category": category,
        "is_paperless": paperless,
        "partner_country": partner,
        "hs_code": hs,
        "_hs_width": hs_width,
        "customs_value": value,
        "duty_amount": duty,
        "clearance_cost": cost,
        "edoc_seconds": edoc,
    }


def channels(
    rng: np.random.Generator,
    live: bool,
    aeo: np.ndarray,
    lodged: np.ndarray,
    late: np.ndarray,
    end: int,
) -> dict[str, np.ndarray]:
    """First lane and its assignment; for about 3 % a second lane later (re-channelling)."""
    n = len(lodged)
    first = choose(rng, np.array([V.LANE_P_OTHER, V.LANE_P_AEO]), aeo.astype(np.int64))
    lag = np.clip(lognormal_hours(rng, 90.0 if live else 480.0, 1.0, n), 5, 4 * HOUR).astype(
        np.int64
    )
    lag = np.where(late, end - lodged + rng.integers(60, 2_400, n), lag)
    assigned1 = lodged + lag
    rechannel = rng.random(n) < 0.03
    second = choose(
        rng, np.array([(0, 0.6, 0.4, 0), (0.3, 0, 0.7, 0), (0.2, 0.8, 0, 0), (0, 1, 0, 0)]), first
    )
    gap = np.clip(lognormal_hours(rng, 1.5, 0.8, n), 1 / 6, 48) * HOUR
    assigned2 = np.where(rechannel, assigned1 + gap.astype(np.int64), NAT)
    return {
        "first": first,
        "assigned1": assigned1,
        "rechannel": rechannel,
        "second": second,
        "assigned2": assigned2,
        "final": np.where(rechannel, second, first),
        "final_at": np.where(rechannel, assigned2, assigned1),
    }


def arrival_and_release(
    rng: np.random.Generator,
    month: int,
    g: dict[str, np.ndarray],
    aeo: np.ndarray,
    lodged: np.ndarray,
    ch: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival (or presentation at exit), and when release would happen (heavy-tailed, by final lane)."""
    n, dtype, final, final_at = len(lodged), g["declaration_type"], ch["final"], ch["final_at"]
    live = month >= V.GO_LIVE_MONTH
    has_arrival = rng.random(n) < np.array([0.92, 0.60, 0.95])[dtype]
    pre = (dtype == IM) & (rng.random(n) < pre_arrival_share(month) + 0.10 * aeo)
    wait_h = np.where(dtype == IM, 4.0 if live else 10.0, np.where(dtype == EX, 2.0, 1.0))
    before = (lognormal_hours(rng, wait_h, 1.0, n) * HOUR).astype(np.int64)
    ahead = (lognormal_hours(rng, 6.0, 0.7, n) * HOUR).astype(np.int64)
    arrival = np.where(has_arrival, np.where(pre, lodged + ahead, lodged - before), NAT)
    hours = lognormal_hours(rng, V.RELEASE_MEDIAN_H[final], V.RELEASE_SIGMA[final], n)
    hours *= release_factor(month) * np.where(aeo, 0.6, 1.0) * V.MODE_SPEED[g["transport_mode"]]
    hours *= np.array([1.0, 0.8, 0.6])[dtype]
    # An inspection after pre-arrival lodgement waits for the goods; a GREEN release does not.
    checked = (final == YELLOW) | (final == RED)
    begin = np.where(pre & has_arrival & checked, np.maximum(final_at, arrival), final_at)
    return arrival, begin + np.maximum(hours * HOUR, 120).astype(np.int64)


def checks(
    rng: np.random.Generator,
    aeo: np.ndarray,
    ch: dict[str, np.ndarray],
    release: np.ndarray,
    as_of: int,
) -> dict[str, np.ndarray]:
    """Why each lane was chosen, what the final check found, and the release that results."""
    n, first, second, final, final_at = (
        len(aeo),
        ch["first"],
        ch["second"],
        ch["final"],
        ch["final_at"],
    )
    sel1 = np.where(first == GREEN, -1, np.where(first == BLUE, RISK, draw(rng, V.SELECTION_P, n)))
    sel2 = np.where(second == GREEN, -1, np.where(rng.random(n) < 0.7, OFFICER, RISK))
    final_sel = np.where(ch["rechannel"], sel2, sel1)
    p_disc, p_seiz = np.zeros(n), np.zeros(n)
    for lane, table in V.HIT_P.items():
        for sel, (disc, seiz) in enumerate(table):
            hit = (final == lane) & (final_sel == sel)
            p_disc[hit], p_seiz[hit] = disc, seiz
    p_disc *= np.where(aeo, 0.5, 1.0)
    p_seiz *= np.where(aeo, 0.5, 1.0)
    checked = (final == YELLOW) | (final == RED)
    u = rng.random(n)
    finding = np.where(
        checked, np.where(u < p_seiz, SEIZURE, np.where(u < p_seiz + p_disc, DISCREPANCY, NONE)), -1
    )
    inspected = np.where(checked, final_at + (0.85 * (release - final_at)).astype(np.int64), NAT)
    # Seized goods are not released; a few others are held; releases after the extract are not known yet.
    held = (finding == SEIZURE) | (rng.random(n) < 0.003)
    open_check = checked & (inspected >= as_of)
    return {
        "sel1": sel1,
        "sel2": sel2,
        "finding": np.where(open_check, -1, finding),
        "inspected": np.where(open_check, NAT, inspected),
        "released": np.where(held | (release >= as_of), NAT, release),
    }


def lane_rows(
    rng: np.random.Generator,
    ids: np.ndarray,
    ch: dict[str, np.ndarray],
    ck: dict[str, np.ndarray],
    as_of: int,
) -> Frame:
    """One row per lane assignment: every declaration's first, and the re-channelled ones' second."""
    first, second, rechannel = ch["first"], ch["second"], ch["rechannel"]
    r = np.flatnonzero(rechannel)
    rule1 = rule_ids(rng, ck["sel1"], first)
    rule2 = rule_ids(rng, ck["sel2"][r], second[r])
    # A first check that was re-channelled ends when the second lane is assigned.
    first_checked = rechannel & ((first == YELLOW) | (first == RED))
    end1 = np.where(first_checked, ch["assigned2"], NAT)
    find1 = np.where(first_checked, np.where(second == RED, DISCREPANCY, NONE), -1)
    row1 = Frame(
        {
            "declaration_id": ids,
            "lane": first,
            "assigned_at": ch["assigned1"],
            "selection": ck["sel1"],
            "rule_id": rule1,
            "inspection_ended_at": np.where(rechannel, end1, ck["inspected"]),
            "finding": np.where(rechannel, find1, ck["finding"]),
        }
    )
    row2 = Frame(
        {
            "declaration_id": ids[r],
            "lane": second[r],
            "assigned_at": ch["assigned2"][r],
            "selection": ck["sel2"][r],
            "rule_id": rule2,
            "inspection_ended_at": ck["inspected"][r],
            "finding": ck["finding"][r],
        }
    )
    # Rows assigned after the extract are dropped by the caller (they fall in no month of the run);
    # a check that ends after it is still open.
    lanes = Frame.concat([row1, row2])
    late_end = lanes["inspection_ended_at"] >= as_of
    lanes["inspection_ended_at"] = np.where(late_end, NAT, lanes["inspection_ended_at"])
    lanes["finding"] = np.where(late_end, -1, lanes["finding"])
    return lanes


def declarations_chunk(
    rng: np.random.Generator,
    period: Period,
    i: int,
    lodged: np.ndarray,
    late: np.ndarray,
    first_seq: int,
    traders: Traders,
) -> tuple[Frame, Frame]:
    """Declarations lodged at the given (sorted) instants, and their lane rows."""
    month = period.months[i]
    end = period.bounds(i)[1]
    trader = traders.sample(rng, len(lodged))
    aeo = traders.is_aeo(trader, period.zone.local_days(lodged))
    g = goods(rng, month, trader, aeo, traders)
    ch = channels(rng, month >= V.GO_LIVE_MONTH, aeo, lodged, late, end)
    arrival, release = arrival_and_release(rng, month, g, aeo, lodged, ch)
    ck = checks(rng, aeo, ch, release, period.as_of)
    ids = make_ids(month, len(lodged), first_seq)
    decl = Frame(
        {
            "declaration_id": ids,
            **{k: g[k] for k in ("declaration_type", "office_code", "transport_mode")},
            "trader_id": trader,
            **{
                k: g[k]
                for k in (
                    "category",
                    "is_paperless",
                    "partner_country",
                    "hs_code",
                    "_hs_width",
                    "customs_value",
                    "duty_amount",
                    "clearance_cost",
                )
            },
            "arrival_at": arrival,
            "lodged_at": lodged,
            "released_at": ck["released"],
            "edoc_seconds": g["edoc_seconds"],
        }
    )
    return compact(decl), compact(lane_rows(rng, ids, ch, ck, period.as_of))


SMALL_CODES = (
    "declaration_type",
    "office_code",
    "transport_mode",
    "category",
    "partner_country",
    "_hs_width",
    "lane",
    "selection",
    "rule_id",
    "finding",
)


def compact(frame: Frame) -> Frame:
    """Small code columns as int8 and traders as int32: less memory to copy for big months."""
    for name in SMALL_CODES:
        if name in frame:
            frame[name] = frame[name].astype(np.int8)
    if "trader_id" in frame:
        frame["trader_id"] = frame["trader_id"].astype(np.int32)
    return frame


def rule_ids(rng: np.random.Generator, selection: np.ndarray, lane: np.ndarray) -> np.ndarray:
    """The rule or criterion behind a lane: a risk rule, the random sample, an officer, an audit."""
    rule = np.full(len(selection), -1, dtype=np.int64)
    at = np.flatnonzero(selection >= 0)
    sel, n = selection[at], len(at)
    risk = np.minimum((rng.pareto(1.2, n) * 4).astype(np.int64), len(V.RISK_RULES) - 1)
    rnd = np.array(V.RANDOM_RULES)[rng.integers(0, len(V.RANDOM_RULES), n)]
    off = np.array(V.OFFICER_RULES)[rng.integers(0, len(V.OFFICER_RULES), n)]
    pca = np.array(V.PCA_RULES)[rng.integers(0, len(V.PCA_RULES), n)]
    chosen = np.select([sel == RISK, sel == RANDOM, sel == OFFICER], [risk, rnd, off], -1)
    rule[at] = np.where(lane[at] == BLUE, pca, chosen)
    return rule


# ---- drawback ----------------------------------------------------------------------


def drawback_month(
    rng: np.random.Generator, period: Period, i: int, n: int, traders: Traders, exports: Frame
) -> Frame:
    """Refund claims lodged in the month, on export declarations lodged before them."""
    month = period.months[i]
    start, end = period.bounds(i)
    zone = period.zone
    lodged = np.sort(sample_instants(rng, n, start, end, zone, "office"))
    before = np.searchsorted(exports["lodged_at"], lodged, side="left")
    pick = np.minimum((rng.random(n) * before).astype(np.int64), np.maximum(before - 1, 0))
    has = before > 0
    trader = np.where(
        has, exports["trader_id"][pick] if len(exports) else 0, traders.sample(rng, n)
    )
    declaration = np.where(
        has & (rng.random(n) > 0.06), exports["declaration_id"][pick] if len(exports) else -1, -1
    )
    aeo = traders.is_aeo(trader, zone.local_days(lodged))

    claimed = np.round(rng.lognormal(np.log(400_000.0), 1.0, n) * np.sqrt(traders.scale[trader]), 2)
    days = rng.lognormal(np.log(np.where(aeo, 7.0, 24.0)), 0.5, n)
    days *= 1.35 if month < V.GO_LIVE_MONTH else 1.0
    decided = lodged + (np.maximum(days, 0.1) * DAY).astype(np.int64)
    decided = np.maximum(office_hours(rng, decided, zone), lodged + HOUR)
    outcome = (
        choose(rng, np.array([(0.70, 0.15, 0.15), (0.82, 0.12, 0.06)]), aeo.astype(np.int64))
        + APPROVED
    )
    pending = decided >= period.as_of
    status = np.where(pending, PENDING, outcome)
    share = np.where(
        status == APPROVED, 1.0, np.where(status == PARTIAL, rng.uniform(0.4, 0.95, n), np.nan)
    )
    approved = np.round(claimed * share, 2)
    return Frame(
        {
            "claim_id": make_ids(month, n),
            "trader_id": trader,
            "declaration_id": declaration,
            "lodged_at": lodged,
            "status": status,
            "decided_at": np.where(pending, NAT, decided),
            "amount_claimed": claimed,
            "amount_approved": approved,
        }
    )


# ---- service desk -------------------------------------------------------------------


@feed_month("tickets")
def tickets_month(
    rng: np.random.Generator, period: Period, i: int, declarations_per_month: int
) -> Frame:
    """Service requests with due dates, incidents, and now and then a system failure."""
    month = period.months[i]
    start, end = period.bounds(i)
    zone, as_of = period.zone, period.as_of
    n_sr = rng.poisson(60 + declarations_per_month / 25)
    n_inc = rng.poisson(8 + declarations_per_month / 200)
    n_fail = min(3, rng.poisson(0.8 + (1.5 if month == V.GO_LIVE_MONTH else 0.0)))
    opened = np.concatenate(
        [
            sample_instants(rng, n_sr, start, end, zone, "office"),
            sample_instants(rng, n_inc, start, end, zone, "clearance"),
            sample_instants(rng, n_fail, start, end, zone, "any"),
        ]
    )
    kind = np.repeat([SERVICE_REQUEST, INCIDENT, FAILURE], [n_sr, n_inc, n_fail])
    n = len(opened)
    system = draw(rng, V.SYSTEM_P, n)
    system = np.where(kind == FAILURE, rng.choice([0, 1, 3], n), system)

    due_days = np.array(V.SR_DUE_DAYS)[draw(rng, V.SR_DUE_P, n)]
    due = np.select(
        [kind == SERVICE_REQUEST, (kind == INCIDENT) & (rng.random(n) < 0.4)],
        [opened + due_days * DAY, opened + DAY],
        NAT,
    )
    p_late = 0.009 * rng.gamma(2.0, 0.5)
    late = (kind == SERVICE_REQUEST) & (rng.random(n) < p_late)
    window = np.where(due == NAT, 0, due - opened)
    on_time = opened + (rng.uniform(0.05, 0.95, n) * window).astype(np.int64)
    overdue = np.where(due == NAT, opened, due) + (
        np.clip(lognormal_hours(rng, 18.0, 0.7, n), 2.0, 120.0) * HOUR
    ).astype(np.int64)
    other = opened + (
        lognormal_hours(rng, np.where(kind == FAILURE, 2.0, 5.0), 0.9, n) * HOUR
    ).astype(np.int64)
    other = np.maximum(other, opened + 300)
    resolved = np.where(kind == SERVICE_REQUEST, np.where(late, overdue, on_time), other)
    resolved = np.where(resolved >= as_of, NAT, resolved)

    order = np.argsort(opened, kind="stable")
    return Frame(
        {
            "ticket_id": make_ids(month, n),
            "ticket_type": kind[order],
            "system": system[order],
            "opened_at": opened[order],
            "due_at": due[order],
            "resolved_at": resolved[order],
        }
    )


# ---- manual indicators ----------------------------------------------------------------


@feed_month("manual")
def manual_month(
    rng: np.random.Generator, period: Period, i: int, declarations_per_month: int
) -> Frame:
    """The people-reported indicators (as many whatever the trade); the survey is quarterly."""
    month = period.months[i]
    progress = story_progress(month)
    quarterly = month % 12 in (2, 5, 8, 11)
    values = np.array(
        [
            np.clip(round(6.0 + 2.2 * progress + rng.normal(0.0, 0.25), 1), 1.0, 10.0),
            rng.poisson(1.2),
            rng.poisson(0.9),
            rng.poisson(18 + 6 * progress),
            rng.poisson(9 + 4 * progress),
        ],
        dtype=float,
    )
    note_p = np.array([1.0, 0.5, 0.5, 0.3, 0.4])
    notes = np.where(rng.random(5) < note_p, np.arange(5), -1)
    notes[2] = len(V.MANUAL_NOTES) - 1 if rng.random() < 0.1 else notes[2]
    keep = np.array([quarterly, True, True, True, True])
    return Frame(
        {
            "kpi_id": np.arange(5)[keep],
            "value": values[keep],
            "note": notes[keep],
        }
    )
