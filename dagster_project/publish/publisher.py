"""Build the published warehouse in a new file, then swap it in with os.replace.

Readers (BI tools, the DuckDB CLI) keep the file they opened; new connections
see the new one. The work database is only ever read here. The new file is
written in DuckDB's v1.0.0 storage format so that older DuckDB clients, as BI
drivers bundle, can open it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.contract import FEEDS
from dagster_project.ingest.rowchecks import lit, q
from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.publish.parquet_concat import concat_parquet, nullable_query
from dagster_project.publish.pseudonym import pseudonym
from dagster_project.settings import Settings
from dagster_project.warehouse.db import connect

STORAGE_VERSION = "v1.0.0"
# Published beside the dbt marts, straight from the raw layer's ledger.
LEDGER_TABLES = {"load_audit": "raw.load_audit", "load_rejects": "raw.rejects"}
PSEUDONYMISED_COLUMNS = ("trader_id",)
# The text of a rejected row is published only for feeds that carry no trader
# identity: a raw line holds the trader id in clear, in a field we cannot find
# reliably once the row failed to parse. Those lines stay in raw.rejects.
IDENTITY_FEEDS = tuple(f.name for f in FEEDS if any(c.name in PSEUDONYMISED_COLUMNS for c in f.columns))


# Tables published month by month (column holding the month): they grow with history.
PARTITIONED = {"fct_declarations": "month"}
PARTS_DIR = "published_parts"

@dataclass
class PublishResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    parquet: list[Path] = field(default_factory=list)
    incremental: bool = False


def marts_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_catalog = current_database() ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "AND table_catalog = current_database() ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _pseudonym_map(con, secret: str, sources: list[tuple[str, str]]) -> None:
    """Temp table _pseudonyms(trader_id, pseudonym) over every trader id being published.
    `sources` are (relation or subquery, name) pairs."""
    union = " UNION ".join(f"SELECT DISTINCT trader_id FROM {rel}" for rel, _ in sources) or "SELECT NULL WHERE false"
    ids = [r[0] for r in con.execute(f"SELECT trader_id FROM ({union}) WHERE trader_id IS NOT NULL").fetchall()]
    # One Arrow table in one statement: executemany would be a round trip per trader (~20 s per 100k).
    rows = pa.table(
        {"trader_id": pa.array(ids, pa.string()), "pseudonym": pa.array([pseudonym(secret, i) for i in ids], pa.string())}
    )
    con.register("_pseudonym_rows", rows)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _pseudonyms AS SELECT trader_id, pseudonym FROM _pseudonym_rows")
    finally:
        con.unregister("_pseudonym_rows")


def publish_signature(con, secret: str, sources: list[tuple[str, str]]) -> str:
    """What the previous published file must share with this run for a month-by-month update:
    the pseudonym key (by fingerprint) and every published table's columns."""
    digest = hashlib.sha256(hashlib.sha256(secret.encode("utf-8")).digest())
    for rel, name in sources:
        digest.update(f"{name}:{','.join(_columns(con, *_split(rel)))};".encode())
    return digest.hexdigest()


def publish(settings: Settings, secret: str) -> PublishResult:
    """Publish the work database's marts (and the load ledger) as a new file, swapped in atomically.

    Month-partitioned tables (fct_declarations) grow with history, so when the
    previous published file is compatible (same key, same columns) the new file
    starts as a byte copy of it and only the months rebuilt since the last
    publish (meta.unpublished_months) are replaced; their Parquet is written
    month by month into parts under the work dir and concatenated without
    re-encoding. Otherwise, or after a full refresh, everything is written anew.
    """
    marts_dir = settings.marts_dir
    marts_dir.mkdir(parents=True, exist_ok=True)
    parts_root = settings.work_dir / PARTS_DIR
    tmp = marts_dir / f".warehouse.{uuid.uuid4().hex}.duckdb.tmp"
    result = PublishResult(settings.published_db)
    con = connect(settings.work_db, settings)
    try:
        ensure_raw_schema(con)
        taken_at = con.execute("SELECT max(noted_at) FROM meta.unpublished_months").fetchall()[0][0]
        pending = [r[0] for r in con.execute("SELECT DISTINCT month FROM meta.unpublished_months").fetchall()]
        sources = [(f"marts.{q(t)}", t) for t in marts_tables(con)]
        sources += [(rel, name) for name, rel in LEDGER_TABLES.items()]
        signature = publish_signature(con, secret, sources)
        previous = dict(con.execute("SELECT key, value FROM meta.publish_state").fetchall())
        incremental = (
            settings.published_db.is_file() and previous.get("signature") == signature and None not in pending
        )
        result.incremental = incremental
        # The months noted up to now, as a subquery (none noted: an empty one).
        pending_sql = (
            f"SELECT month FROM meta.unpublished_months WHERE noted_at <= TIMESTAMP {lit(str(taken_at))}"
            if taken_at is not None else "SELECT CAST(NULL AS DATE) WHERE false"
        )

        def rows_of(rel: str, name: str) -> str:
            """The rows of `rel` this publish writes: the pending months of a partitioned table, else all."""
            column = PARTITIONED.get(name)
            if incremental and column:
                return f"(SELECT * FROM {rel} WHERE {q(column)} IN ({pending_sql}))"
            return rel

        with_trader = [(rows_of(rel, name), name) for rel, name in sources if "trader_id" in _columns(con, *_split(rel))]
        _pseudonym_map(con, secret, with_trader)

        if incremental:
            shutil.copyfile(settings.published_db, tmp)  # a kernel copy, keeping its storage version
            con.execute(f"ATTACH {lit(str(tmp))} AS pub")
        else:
            con.execute(f"ATTACH {lit(str(tmp))} AS pub (STORAGE_VERSION {lit(STORAGE_VERSION)})")
        con.execute("CREATE SCHEMA IF NOT EXISTS pub.marts")
        for rel, name in sources:
            column = PARTITIONED.get(name)
            if incremental and column:
                con.execute(f"DELETE FROM pub.marts.{q(name)} WHERE {q(column)} IN ({pending_sql})")
                con.execute(f"INSERT INTO pub.marts.{q(name)} {published_select(con, rel, rows_of(rel, name))}")
            else:
                con.execute(f"CREATE OR REPLACE TABLE pub.marts.{q(name)} AS {published_select(con, rel)}")
            result.tables[name] = con.execute(f"SELECT count(*) FROM pub.marts.{q(name)}").fetchall()[0][0]
        con.execute("DETACH pub")

        # Parquet beside it, one file per table; every file is swapped in atomically.
        con.execute(f"ATTACH {lit(str(tmp))} AS pub (READ_ONLY)")
        staged: list[tuple[Path, Path]] = []
        keep_parts: dict[str, set[str]] = {}
        for name in result.tables:
            part = marts_dir / f".{name}.{uuid.uuid4().hex}.parquet.tmp"
            column = PARTITIONED.get(name)
            if column:
                keep_parts[name] = write_month_parts(
                    con, f"pub.marts.{q(name)}", column, parts_root / name, part, pending if incremental else None
                )
            else:
                con.execute(f"COPY pub.marts.{q(name)} TO {lit(str(part))} (FORMAT parquet)")
            staged.append((part, marts_dir / f"{name}.parquet"))
        con.execute("DETACH pub")
        os.replace(tmp, settings.published_db)
        for part, target in staged:
            os.replace(part, target)
            result.parquet.append(target)
        for name, keep in keep_parts.items():
            for stale in (parts_root / name).glob("*.parquet"):
                if stale.name not in keep:
                    stale.unlink(missing_ok=True)
        con.execute("DELETE FROM meta.publish_state")
        con.execute("INSERT INTO meta.publish_state VALUES ('signature', ?)", [signature])
        if taken_at is not None:
            con.execute("DELETE FROM meta.unpublished_months WHERE noted_at <= ?", [taken_at])
    finally:
        con.close()
        for leftover in marts_dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
    return result


def part_name(month) -> str:
    return f"{month:%Y-%m}.parquet" if month is not None else "none.parquet"


def write_month_parts(con, table: str, column: str, parts_dir: Path, out: Path, pending: list | None) -> set[str]:
    """Parquet of a month-partitioned table as one file at `out`: one part per month under
    `parts_dir` (rewritten for the `pending` months, or all when None, or where missing),
    concatenated in month order. Returns the part names in use."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    months = [r[0] for r in con.execute(f"SELECT DISTINCT {q(column)} FROM {table} ORDER BY 1 NULLS LAST").fetchall()]
    rewrite = set(months) if pending is None else set(pending)
    paths = []
    for month in months:
        path = parts_dir / part_name(month)
        if month in rewrite or not path.is_file():
            where = f"{q(column)} IS NULL" if month is None else f"{q(column)} = {lit(month.isoformat())}"
            staging = parts_dir / f".{path.name}.{uuid.uuid4().hex}.tmp"
            con.execute(
                f"COPY ({nullable_query(f'SELECT * FROM {table} WHERE {where}')}) TO {lit(str(staging))} (FORMAT parquet)"
            )
            os.replace(staging, path)
        paths.append(path)
    if paths:
        concat_parquet(paths, out)
    else:  # no rows at all: an empty file with the table's columns
        con.execute(f"COPY ({nullable_query(f'SELECT * FROM {table}')}) TO {lit(str(out))} (FORMAT parquet)")
    return {p.name for p in paths}


def published_select(con, rel: str, rows: str | None = None) -> str:
    """The query that publishes a relation (or `rows`, a subquery over it): trader ids as
    pseudonyms (temp table _pseudonyms), and the raw text of rejected rows blanked for feeds
    that carry trader identity."""
    cols = _columns(con, *_split(rel))
    if "trader_id" in cols:
        select = ", ".join("p.pseudonym AS trader_id" if c == "trader_id" else f"s.{q(c)}" for c in cols)
        return f"SELECT {select} FROM {rows or rel} s LEFT JOIN _pseudonyms p ON p.trader_id = s.trader_id"
    if rel == LEDGER_TABLES["load_rejects"]:
        feeds = ", ".join(lit(f) for f in IDENTITY_FEEDS) or "NULL"
        return f"SELECT * REPLACE (CASE WHEN feed IN ({feeds}) THEN NULL ELSE raw_text END AS raw_text) FROM {rel}"
    return f"SELECT * FROM {rel}"


def _split(rel: str) -> tuple[str, str]:
    schema, _, table = rel.partition(".")
    return schema, table.strip('"')


def open_published(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Read the published file as it is now, read-only.

    `duckdb.connect(path)` would hand back a cached database instance when
    this process already has the path open, i.e. the file as it was before the
    last swap; attaching it to a fresh in-memory database always opens the
    current file.
    """
    con = duckdb.connect()
    con.execute(f"ATTACH {lit(str(path))} AS warehouse (READ_ONLY)")
    con.execute("USE warehouse")
    return con
