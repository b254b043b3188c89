"""Build the published warehouse in a new file, then swap it in with os.replace.

Readers (BI tools, the DuckDB CLI) keep the file they opened; new connections
see the new one. The work database is only ever read here. The new file is
written in DuckDB's v1.0.0 storage format so that older DuckDB clients, as BI
drivers bundle, can open it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.contract import FEEDS
from dagster_project.ingest.rowchecks import lit, q
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


@dataclass
class PublishResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    parquet: list[Path] = field(default_factory=list)


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
    """Temp table _pseudonyms(trader_id, pseudonym) over every trader id being published."""
    union = " UNION ".join(f"SELECT DISTINCT trader_id FROM {rel}" for rel, _ in sources) or "SELECT NULL WHERE false"
    ids = [r[0] for r in con.execute(f"SELECT trader_id FROM ({union}) WHERE trader_id IS NOT NULL").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE _pseudonyms (trader_id VARCHAR, pseudonym VARCHAR)")
    if ids:
        con.executemany("INSERT INTO _pseudonyms VALUES (?, ?)", [[i, pseudonym(secret, i)] for i in ids])


def publish(settings: Settings, secret: str) -> PublishResult:
    """Copy the work database's marts (and the load ledger) into a new published file."""
    marts_dir = settings.marts_dir
    marts_dir.mkdir(parents=True, exist_ok=True)
    tmp = marts_dir / f".warehouse.{uuid.uuid4().hex}.duckdb.tmp"
    result = PublishResult(settings.published_db)
    con = connect(settings.work_db, settings)
    try:
        sources = [(f"marts.{q(t)}", t) for t in marts_tables(con)]
        sources += [(rel, name) for name, rel in LEDGER_TABLES.items()]
        with_trader = [(rel, name) for rel, name in sources if "trader_id" in _columns(con, *_split(rel))]
        _pseudonym_map(con, secret, with_trader)

        con.execute(f"ATTACH {lit(str(tmp))} AS pub (STORAGE_VERSION {lit(STORAGE_VERSION)})")
        con.execute("CREATE SCHEMA pub.marts")
        for rel, name in sources:
            con.execute(f"CREATE TABLE pub.marts.{q(name)} AS {published_select(con, rel)}")
            result.tables[name] = con.execute(f"SELECT count(*) FROM pub.marts.{q(name)}").fetchall()[0][0]
        con.execute("DETACH pub")

        # Parquet beside it, one file per table; every file is swapped in atomically.
        con.execute(f"ATTACH {lit(str(tmp))} AS pub (READ_ONLY)")
        parts: list[tuple[Path, Path]] = []
        for name in result.tables:
            part = marts_dir / f".{name}.{uuid.uuid4().hex}.parquet.tmp"
            con.execute(f"COPY pub.marts.{q(name)} TO {lit(str(part))} (FORMAT parquet)")
            parts.append((part, marts_dir / f"{name}.parquet"))
        con.execute("DETACH pub")
        os.replace(tmp, settings.published_db)
        for part, target in parts:
            os.replace(part, target)
            result.parquet.append(target)
    finally:
        con.close()
        for leftover in marts_dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
    return result


def published_select(con, rel: str) -> str:
    """The query that publishes a relation: trader ids as pseudonyms (temp table _pseudonyms),
    and the raw text of rejected rows blanked for feeds that carry trader identity."""
    cols = _columns(con, *_split(rel))
    if "trader_id" in cols:
        select = ", ".join("p.pseudonym AS trader_id" if c == "trader_id" else f"s.{q(c)}" for c in cols)
        return f"SELECT {select} FROM {rel} s LEFT JOIN _pseudonyms p ON p.trader_id = s.trader_id"
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
