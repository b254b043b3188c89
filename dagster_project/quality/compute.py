"""The metrics of a feed's months, computed inside DuckDB: aggregates in, one small frame out.

One grouped scan of the raw table per feed covers every column-level count,
null share and distribution metric of all the months being checked; the
cross-month duplicate count is one more semi-join, and the row counts,
rejected shares and the row-count history come from `raw.load_audit`. Only
the result (one row per month, one column per metric) reaches pandas;
offending rows are fetched afterwards, at most ten per failed expectation.

Samples end up in Dagster's run storage and UI, outside the work database,
so they carry no trader identity: trader ids become their pseudonyms (blank
without a key) and the raw text of a rejected row of a feed that holds trader
ids is blanked, as in the published `load_rejects`.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from dagster_project.contract import Feed
from dagster_project.publish.pseudonym import pseudonym
from dagster_project.publish.publisher import IDENTITY_FEEDS, PSEUDONYMISED_COLUMNS
from dagster_project.warehouse.sql import lit, q
from dagster_project.quality.metrics import SAMPLE_LIMIT, Metric, feed_metrics

CONTEXT_COLUMNS = ("rows_read", "rows_rejected", "history_median", "history_months_used")


def month_literal(month: date) -> str:
    return f"DATE {lit(month.isoformat())}"


def audit_by_month(
    con: duckdb.DuckDBPyConnection, feed: Feed
) -> dict[date, tuple[int, int, int, bool]]:
    """Per loaded month: rows read, accepted, rejected, and whether its quality result is 'failed'."""
    rows = con.execute(
        "SELECT month, sum(rows_read), sum(rows_accepted), sum(rows_rejected), bool_or(quality_result = 'failed') "
        "FROM raw.load_audit WHERE feed = ? GROUP BY month ORDER BY month",
        [feed.name],
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), bool(r[4])) for r in rows}


def history_median(
    audit: dict[date, tuple[int, int, int, bool]], month: date, n: int
) -> tuple[float | None, int]:
    """Median rows accepted of the last up-to-n loaded months before `month` (failed months left out)."""
    previous = (
        [v[1] for m, v in sorted(audit.items()) if m < month and not v[3]][-n:] if n > 0 else []
    )
    if not previous:
        return None, 0
    return float(statistics.median(previous)), len(previous)


def metrics_frame(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    months: list[date],
    *,
    tz: str,
    code_sets: dict[str, frozenset[str]] | None,
    history_months: int,
    min_history_rows: float = 0,
) -> pd.DataFrame:
    """One row per month (column `month`, 'YYYY-MM'), one float column per metric of the feed.
    `row_count_ratio` is null (not checked) without history or while the history's median is
    below `min_history_rows`."""
    metrics = feed_metrics(feed, tz, code_sets)
    columns = ["month", *(m.name for m in metrics), *CONTEXT_COLUMNS]
    if not months:
        return pd.DataFrame(columns=columns)
    in_months = "(" + ", ".join(month_literal(m) for m in months) + ")"
    grouped = [m for m in metrics if m.aggregate]
    key = q(feed.key) if feed.key else None
    select = [f"{m.aggregate} AS {q(m.name)}" for m in grouped]
    if key:
        select.append(f"count(*) - count(DISTINCT {key}) AS _dups_within")
    values: dict[date, dict[str, Any]] = {m: {} for m in months}
    cur = con.execute(
        f"SELECT _month, {', '.join(select)} FROM {feed.raw_table} r WHERE _month IN {in_months} GROUP BY _month"
    )
    names = [d[0] for d in cur.description]
    for row in cur.fetchall():
        values[row[0]] = dict(zip(names[1:], row[1:]))

    if key:
        across: dict[date, int] = {}
        if feed.kind == "event":
            across = dict(
                con.execute(
                    f"SELECT a._month, count(*) FROM {feed.raw_table} a WHERE a._month IN {in_months} "
                    f"AND EXISTS (SELECT 1 FROM {feed.raw_table} b WHERE b.{key} = a.{key} AND b._month <> a._month) "
                    "GROUP BY a._month"
                ).fetchall()
            )
        for m in months:
            values[m][f"{feed.key}__duplicates"] = (
                values[m].pop("_dups_within", 0) or 0
            ) + across.get(m, 0)

    audit = audit_by_month(con, feed)
    records = []
    for m in months:
        v = values[m]
        read, accepted, rejected, _ = audit.get(m, (0, 0, 0, False))
        median, used = history_median(audit, m, history_months)
        v["row_count"] = v.get("row_count", 0) or 0
        v["reject_share"] = rejected / read if read else None
        v["row_count_ratio"] = (
            (accepted / median) if median and median >= min_history_rows else None
        )
        v.update(
            rows_read=read, rows_rejected=rejected, history_median=median, history_months_used=used
        )
        records.append({"month": f"{m:%Y-%m}", **{c: _number(v.get(c)) for c in columns[1:]}})
    frame = pd.DataFrame.from_records(records, columns=columns)
    for c in columns[1:]:
        frame[c] = frame[c].astype("float64")
    return frame


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _query(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [{n: _plain(v) for n, v in zip(names, row)} for row in cur.fetchall()]


def without_identity(
    feed: Feed, rows: list[dict[str, Any]], secret: str | None
) -> list[dict[str, Any]]:
    """The rows with trader ids pseudonymised (None without a key) and, for a feed carrying
    trader identity, the raw text of rejected rows blanked."""
    for row in rows:
        for column in PSEUDONYMISED_COLUMNS:
            if row.get(column) is not None:
                row[column] = pseudonym(secret, str(row[column])) if secret else None
        if "raw_text" in row and feed.name in IDENTITY_FEEDS:
            row["raw_text"] = None
    return rows


def sample_rows(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    metric: Metric,
    month: date,
    history_months: int,
    secret: str | None = None,
) -> list[dict[str, Any]]:
    """At most ten rows showing why `metric` failed for `month`, without trader identity
    (`secret`: the pseudonym key; without it trader ids are blanked)."""
    return without_identity(feed, offending_rows(con, feed, metric, month, history_months), secret)


def offending_rows(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    metric: Metric,
    month: date,
    history_months: int,
) -> list[dict[str, Any]]:
    """At most ten rows of the work database showing why `metric` failed (identity in clear:
    never let these leave the work database, see `sample_rows`)."""
    m = month_literal(month)
    if metric.sample:
        return _query(con, metric.sample.format(table=feed.raw_table, month=m))
    if metric.name in ("row_count", "row_count_ratio"):
        audit = audit_by_month(con, feed)
        earlier = (
            [x for x in sorted(audit) if x < month][-history_months:] if history_months > 0 else []
        )
        return [
            {
                "month": f"{x:%Y-%m}",
                "rows_accepted": audit[x][1],
                "quality_failed": audit[x][3],
                "in_history": x != month and not audit[x][3],
            }
            for x in [*earlier, month]
            if x in audit
        ][-SAMPLE_LIMIT:]
    if metric.name == "reject_share":
        return _query(
            con,
            "SELECT file, line, column_name, reason, raw_text FROM raw.rejects WHERE feed = ? AND month = ? "
            f"ORDER BY file, line LIMIT {SAMPLE_LIMIT}",
            [feed.name, month],
        )
    if metric.name.endswith("__null_share"):
        col = q(metric.name.removesuffix("__null_share"))
        return _query(
            con,
            f"SELECT _file AS file, count(*) AS rows, round(avg(({col} IS NULL)::DOUBLE), 4) AS null_share "
            f"FROM {feed.raw_table} WHERE _month = {m} GROUP BY _file ORDER BY null_share DESC LIMIT {SAMPLE_LIMIT}",
        )
    return []
