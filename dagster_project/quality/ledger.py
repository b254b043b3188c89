"""Quality results in the load ledger and operator overrides.

* Each checked feed-month gets `quality_result` ('passed' | 'failed' |
  'overridden') and a one-line `quality_note` on all its `raw.load_audit`
  rows. A load writes 'not_checked'; the next check run evaluates it.
* An override is appended to `raw.quality_overrides` (never updated or
  deleted) together with the fingerprint of the delivery it was given for (the
  files' names and SHA-256). It stands while the month holds that delivery:
  reloading the same files keeps it, a re-delivery with other content voids it.
* A feed-month that failed is *withheld*, not blocking: `gate_states` names,
  before each dbt build, the feed-months withheld and those let through by an
  override (in `meta.quality_gate`); the dbt models publish everything else and
  null the KPI values of a month that read a withheld feed-month, saying why in
  `kpi_monthly.quality`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

from dagster_project.contract import Feed, feed_by_name
from dagster_project.ingest.loader import touched_months_sql
from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.settings import Settings
from dagster_project.warehouse.db import connect

RESULTS = ("passed", "failed", "overridden")
NOTE_LIMIT = 1000

OVERRIDES_DDL = """
CREATE TABLE IF NOT EXISTS raw.quality_overrides (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    delivery_sha256 VARCHAR NOT NULL,
    overridden_by VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    overridden_at TIMESTAMP NOT NULL,
    result_before VARCHAR,
    note_before VARCHAR
)
"""


def ensure_quality_schema(con: duckdb.DuckDBPyConnection) -> None:
    ensure_raw_schema(con)
    con.execute(OVERRIDES_DDL)


def delivery_fingerprint(con: duckdb.DuckDBPyConnection, feed: str, month: date) -> str | None:
    """SHA-256 over the names and contents' SHA-256 of the files loaded for the feed-month."""
    rows = con.execute(
        "SELECT file, coalesce(file_sha256, '') FROM raw.load_audit WHERE feed = ? AND month = ? ORDER BY file",
        [feed, month],
    ).fetchall()
    if not rows:
        return None
    return hashlib.sha256("".join(f"{f}\t{h}\n" for f, h in rows).encode()).hexdigest()


@dataclass(frozen=True)
class Override:
    by: str
    reason: str
    at: datetime

    def note(self) -> str:
        return f"overridden by {self.by} at {self.at:%Y-%m-%d %H:%M} UTC: {self.reason}"


def standing_override(con: duckdb.DuckDBPyConnection, feed: str, month: date) -> Override | None:
    """The latest override given for the delivery the month holds now, if any."""
    fingerprint = delivery_fingerprint(con, feed, month)
    if fingerprint is None:
        return None
    row = con.execute(
        "SELECT overridden_by, reason, overridden_at FROM raw.quality_overrides "
        "WHERE feed = ? AND month = ? AND delivery_sha256 = ? ORDER BY overridden_at DESC LIMIT 1",
        [feed, month, fingerprint],
    ).fetchall()
    return Override(*row[0]) if row else None


def months_to_check(
    con: duckdb.DuckDBPyConnection, feed: Feed, run_months: list[date]
) -> list[date]:
    """The run's months that hold a delivery, plus every month not yet checked or held back."""
    rows = con.execute(
        "SELECT DISTINCT month FROM raw.load_audit WHERE feed = ? "
        "AND (month IN (SELECT unnest(?::DATE[])) OR quality_result IN ('not_checked', 'failed')) ORDER BY month",
        [feed.name, run_months],
    ).fetchall()
    return [r[0] for r in rows]


def record_result(
    con: duckdb.DuckDBPyConnection, feed: str, month: date, result: str, note: str
) -> None:
    if result not in RESULTS:
        raise ValueError(f"quality result must be one of {RESULTS}, not {result!r}")
    con.execute(
        "UPDATE raw.load_audit SET quality_result = ?, quality_note = ? WHERE feed = ? AND month = ?",
        [result, note[:NOTE_LIMIT], feed, month],
    )


def mark_released(con: duckdb.DuckDBPyConnection, feed: str, month: date, at: datetime) -> None:
    """A feed-month the gate withheld is let through (it passed, or was overridden): its figures
    must be rebuilt from the delivery it holds, so its month is dirty for the next dbt build."""
    con.execute("INSERT INTO meta.dirty_months VALUES (?, ?, ?)", [month, feed, at])


WITHHELD = "withheld"
OVERRIDE = "override"
_FAILED_METRIC = re.compile(r"(?:quality suite failed: |; )([A-Za-z0-9_]+)(?: = |: could not)")


def failed_expectations(note: str) -> list[str]:
    """The metrics of the failed expectations named in a `quality_note` (`_failure_note` in gate.py)."""
    return list(dict.fromkeys(_FAILED_METRIC.findall(note or "")))


@dataclass(frozen=True)
class GateState:
    """A feed-month the dbt build treats specially: withheld (failed) or let through by an override.

    `month` is a month whose figures the feed-month's rows feed: its own month, and for lanes
    and tickets also the months their rows reach (a lane row counts for its declaration's month,
    a service request for the month it is due)."""

    feed: str
    month: date
    state: str  # WITHHELD | OVERRIDE
    note: str  # 'withheld: <feed> <YYYY-MM> failed <expectations>' | 'override: <by>, <reason>'
    source_month: date  # the feed-month that failed or was overridden


def gate_states(con: duckdb.DuckDBPyConnection, tz: str) -> list[GateState]:
    """Every withheld and overridden feed-month, with the months its rows reach."""
    ensure_quality_schema(con)
    rows = con.execute(
        "SELECT feed, month, any_value(quality_result), any_value(quality_note) FROM raw.load_audit "
        "WHERE quality_result IN ('failed', 'overridden') GROUP BY feed, month ORDER BY month, feed"
    ).fetchall()
    states: list[GateState] = []
    for feed_name, month, result, note in rows:
        if result == "failed":
            failed = ", ".join(failed_expectations(note)) or "its quality suite"
            state, text = WITHHELD, f"withheld: {feed_name} {month:%Y-%m} failed {failed}"
        else:
            override = standing_override(con, feed_name, month)
            if override is None:
                continue
            state, text = OVERRIDE, f"override: {override.by}, {override.reason}"
        feed = feed_by_name(feed_name)
        reached = {month}
        sql = touched_months_sql(
            feed, tz, f"(SELECT * FROM {feed.raw_table} WHERE _month = DATE '{month.isoformat()}')"
        )
        if sql:
            reached.update(r[0] for r in con.execute(sql).fetchall() if r[0] is not None)
        states += [GateState(feed_name, m, state, text, month) for m in sorted(reached)]
    return states


def write_gate_states(con: duckdb.DuckDBPyConnection, tz: str) -> list[GateState]:
    """Replace `meta.quality_gate` with the current states (before a dbt build)."""
    states = gate_states(con, tz)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM meta.quality_gate")
    if states:
        con.executemany(
            "INSERT INTO meta.quality_gate VALUES (?, ?, ?, ?)",
            [[g.feed, g.month, g.state, g.note] for g in states],
        )
    con.execute("COMMIT")
    return states


class OverrideError(ValueError):
    """An override that cannot be recorded (nothing loaded, empty name or reason)."""


def record_override(
    settings: Settings, feed: Feed, month: date, by: str, reason: str
) -> tuple[str, str]:
    """Append an override and mark the feed-month 'overridden'; returns (result before, note now)."""
    by, reason = by.strip(), " ".join(reason.split())
    if not by:
        raise OverrideError("--by must name who takes the decision")
    if not reason:
        raise OverrideError("--reason must say why the batch is accepted")
    if not settings.work_db.exists():
        raise OverrideError(f"nothing loaded yet ({settings.work_db} does not exist)")
    try:
        con = connect(settings.work_db, settings)
    except duckdb.IOException as exc:
        raise OverrideError(
            f"the work database is busy (a run in progress?): {str(exc).splitlines()[0]}"
        ) from exc
    try:
        ensure_quality_schema(con)
        fingerprint = delivery_fingerprint(con, feed.name, month)
        if fingerprint is None:
            raise OverrideError(f"{feed.name} {month:%Y-%m} is not loaded: nothing to override")
        before = con.execute(
            "SELECT any_value(quality_result), any_value(quality_note) FROM raw.load_audit WHERE feed = ? AND month = ?",
            [feed.name, month],
        ).fetchall()[0]
        # Only a failed month (or one overridden before: a new decision replaces the note) can be
        # let through: an override of a passed month would publish its values as accepted by an
        # operator, one of a month still unchecked would skip its check.
        if before[0] == "passed":
            raise OverrideError(
                f"{feed.name} {month:%Y-%m} passed its quality suite: nothing to override"
            )
        if before[0] not in ("failed", "overridden"):
            raise OverrideError(
                f"{feed.name} {month:%Y-%m} has not been checked yet: run it first "
                f"(customs-kpi run --from {month:%Y-%m} --to {month:%Y-%m}), then override it "
                "if it fails"
            )
        at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        override = Override(by, reason, at)
        failed = before[1] if before[0] == "failed" and before[1] else ""
        note = override.note() + (f" | {failed}" if failed else "")
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO raw.quality_overrides VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [feed.name, month, fingerprint, by, reason, at, before[0], before[1]],
        )
        record_result(con, feed.name, month, "overridden", note)
        mark_released(con, feed.name, month, at)
        con.execute("COMMIT")
        return before[0], note
    finally:
        con.close()
