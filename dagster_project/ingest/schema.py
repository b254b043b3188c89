"""DDL of the work database's raw layer, derived from the feed contract."""

from __future__ import annotations

import duckdb

from dagster_project.contract import FEEDS, Feed

# Lineage columns every raw table carries after the contract's own columns.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_month", "DATE"),  # the partition: first day of the folder's month
    ("_file", "VARCHAR"),  # file name inside the month folder
    ("_line", "BIGINT"),  # record number in the file (header = 1)
    ("_loaded_at", "TIMESTAMP"),  # UTC
)

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS raw.rejects (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    file VARCHAR NOT NULL,
    line BIGINT,
    column_name VARCHAR,
    reason VARCHAR NOT NULL,
    raw_text VARCHAR,
    loaded_at TIMESTAMP NOT NULL
)
"""

LOAD_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS raw.load_audit (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    file VARCHAR NOT NULL,
    file_sha256 VARCHAR,
    rows_read BIGINT NOT NULL,
    rows_accepted BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    quality_result VARCHAR NOT NULL,
    quality_note VARCHAR,
    notes VARCHAR,
    loaded_at TIMESTAMP NOT NULL
)
"""

# Months whose downstream models must be rebuilt: written by loads, cleared by
# a successful dbt build, so a failed run leaves them for the next one.
DIRTY_MONTHS_DDL = """
CREATE TABLE IF NOT EXISTS meta.dirty_months (
    month DATE NOT NULL,
    feed VARCHAR NOT NULL,
    noted_at TIMESTAMP NOT NULL
)
"""

# The half-open month window [month_from, month_to) that incremental dbt models rebuild.
BUILD_WINDOW_DDL = """
CREATE TABLE IF NOT EXISTS meta.build_window (
    month_from DATE NOT NULL,
    month_to DATE NOT NULL
)
"""


# The last file-level fault per feed-month (the month's data stay as they were);
# cleared when the feed-month next loads.
LOAD_FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS meta.load_failures (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    file VARCHAR NOT NULL,
    fault VARCHAR NOT NULL,
    failed_at TIMESTAMP NOT NULL
)
"""

# Months rebuilt by dbt and not yet published (a NULL month: all of them, after a full refresh),
# and what the last published file was built with: the publisher's bookkeeping.
UNPUBLISHED_MONTHS_DDL = (
    "CREATE TABLE IF NOT EXISTS meta.unpublished_months (month DATE, noted_at TIMESTAMP NOT NULL)"
)
PUBLISH_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS meta.publish_state (key VARCHAR NOT NULL, value VARCHAR)"
)
# The delivery of each feed-month (digest of its files) the published KPIs were built from:
# written by each full publish, read by the ledger-only one (published load_audit.in_published_kpis).
PUBLISHED_DELIVERIES_DDL = """
CREATE TABLE IF NOT EXISTS meta.published_deliveries (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    delivery_sha256 VARCHAR NOT NULL,
    published_at TIMESTAMP NOT NULL
)
"""


# What the quality gate withholds or lets through by override, per feed and month, for the dbt
# build of the run: written by the orchestrator before each build (quality.ledger.gate_states).
QUALITY_GATE_DDL = """
CREATE TABLE IF NOT EXISTS meta.quality_gate (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    state VARCHAR NOT NULL,
    note VARCHAR NOT NULL
)
"""


def raw_table_columns(feed: Feed) -> list[tuple[str, str]]:
    return [(c.name, c.sql_type) for c in feed.columns] + list(LINEAGE_COLUMNS)


def ensure_feed_table(
    con: duckdb.DuckDBPyConnection, feed: Feed, existing: set[str] | None = None
) -> None:
    """Create a feed's raw table, or add the contract columns it lacks. Idempotent.
    `existing`: the table's columns when the caller already read them (empty: no table)."""
    cols = raw_table_columns(feed)
    if existing is None:
        existing = _raw_columns(con).get(feed.name, set())
    if not existing:
        ddl = ", ".join(f'"{name}" {typ}' for name, typ in cols)
        con.execute(f"CREATE TABLE IF NOT EXISTS {feed.raw_table} ({ddl})")
        return
    for name, typ in cols:
        if name not in existing:
            con.execute(f'ALTER TABLE {feed.raw_table} ADD COLUMN "{name}" {typ}')


def _raw_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_catalog = current_database()"
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    return columns


# The engine of the last successful dbt build (CUSTOMS_KPI_ENGINE): a build on another engine
# starts from scratch (a full refresh), since each engine keeps its own incremental state.
BUILD_ENGINE_DDL = """
CREATE TABLE IF NOT EXISTS meta.build_engine (
    engine VARCHAR NOT NULL,
    built_at TIMESTAMP NOT NULL
)
"""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Create (or extend with new contract columns) every raw table and the ledgers. Idempotent.
    One catalog query when nothing is missing: loads call this for every feed-month.
    Returns each raw table's columns as they now are."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    existing = _raw_columns(con)
    for feed in FEEDS:
        ensure_feed_table(con, feed, existing.get(feed.name, set()))
        existing.setdefault(feed.name, set()).update(name for name, _ in raw_table_columns(feed))
    for ddl in (
        REJECTS_DDL,
        LOAD_AUDIT_DDL,
        DIRTY_MONTHS_DDL,
        BUILD_WINDOW_DDL,
        LOAD_FAILURES_DDL,
        UNPUBLISHED_MONTHS_DDL,
        PUBLISH_STATE_DDL,
        PUBLISHED_DELIVERIES_DDL,
        QUALITY_GATE_DDL,
        BUILD_ENGINE_DDL,
    ):
        con.execute(ddl)
    return existing
