"""Build the published warehouse and its Parquet set anew, then swap them in atomically.

Readers (BI tools, the DuckDB CLI) keep the file they opened; new connections
see the new one. The work database is only ever read here. The new DuckDB file
is written in DuckDB's v1.0.0 storage format so that older DuckDB clients, as
BI drivers bundle, can open it.

The Parquet set is one version folder per publish, `marts/.parquet-versions/<version>/`
(one file per small table, `fct_declarations/month=YYYY-MM-01/*.parquet` for
the fact table), named by one symbolic link, `marts/parquet`, which is
replaced with os.replace: whoever resolves the link sees one publish's
complete set. The current and the previous version are kept, and any version
replaced within the last hour; older ones, and anything a killed publish left
(temporary files, a half-built version), go at the next publish.

Two modes: a full publish (after a successful dbt build) and a ledger-only one
(the quality gate held a month back): the last published tables with fresh
`load_audit` and `load_rejects`. Both build the new file and the new version
the same way; tables and months a publish does not rewrite are taken over from
the last publish (a byte copy of the DuckDB file, hard links to Parquet files).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.contract import FEEDS
from dagster_project.warehouse.sql import lit, q
from dagster_project.ingest.schema import ensure_raw_schema
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
IDENTITY_FEEDS = tuple(
    f.name for f in FEEDS if any(c.name in PSEUDONYMISED_COLUMNS for c in f.columns)
)

# Tables published month by month (their DATE column holding the month): they grow with history,
# and their Parquet is a Hive-partitioned folder, one sub-folder per month.
PARTITIONED = {"fct_declarations": "month"}
PARQUET_POINTER = "parquet"  # marts/parquet -> .parquet-versions/<version>
PARQUET_VERSIONS = ".parquet-versions"
# A version replaced less than this long ago is kept even when it is neither the current nor the
# previous one: when the gate holds a month back, each feed's check publishes the ledger, so
# several publishes can follow each other within seconds.
VERSION_GRACE_SECONDS = 3600
# Every temporary name of a publish contains this, so that the next publish can sweep them
# (DuckDB adds `.wal` to a database being written).
TEMP_MARK = ".tmp"
# Test hook: a publish SIGKILLs its own process at the named point (see KILL_POINTS).
KILL_AT_ENV = "CUSTOMS_KPI_TEST_KILL_AT"
KILL_POINTS = ("parquet-partial", "parquet-written", "warehouse-swapped", "parquet-swapped")

# The delivery of each feed-month in the raw ledger: a digest of its files' names and contents.
DELIVERIES_SQL = (
    "SELECT feed, month, sha256(string_agg(file || chr(9) || coalesce(file_sha256, '') || chr(10), '' "
    "ORDER BY file)) AS delivery_sha256 FROM raw.load_audit GROUP BY feed, month"
)


@dataclass
class PublishResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    parquet: Path | None = None  # the version folder marts/parquet names
    incremental: bool = False
    ledger_only: bool = False
    views: list[str] = field(default_factory=list)


def marts_tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[str]:
    where = f"table_catalog = {lit(catalog)}" if catalog else "table_catalog = current_database()"
    rows = con.execute(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' "
        f"AND {where} ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def publish_views(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """Publish the views of the work database's schema marts as views of `catalog` (no copy of
    their rows, no Parquet): each is re-created from its SQL with `catalog` as the default
    database, so its `marts.x` names, which carry no catalog, bind to the published tables, in
    whichever file the view is later read from (DuckDB binds a view's unqualified names in the
    view's own database). A view that reads another is created once that one exists; one that
    reads nothing published fails the publish, naming it."""
    work, schema = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
    pending = dict(
        con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = 'marts' AND NOT internal ORDER BY view_name"
        ).fetchall()
    )
    created: list[str] = []
    con.execute(f"USE {q(catalog)}")
    try:
        for name in pending:
            con.execute(f"DROP VIEW IF EXISTS marts.{q(name)}")
        while pending:
            errors = {}
            before = len(pending)
            for name, sql in list(pending.items()):
                try:
                    con.execute(sql)
                except duckdb.CatalogException as exc:
                    errors[name] = exc
                    continue
                pending.pop(name)
                created.append(name)
            if len(pending) == before:  # none of them binds: nothing else will be created
                raise RuntimeError(
                    "views of schema marts that do not bind over the published tables: "
                    + "; ".join(f"marts.{name}: {exc}" for name, exc in errors.items())
                )
    finally:
        con.execute(f"USE {q(work)}.{q(schema)}")
    return sorted(created)


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
    union = (
        " UNION ".join(f"SELECT DISTINCT trader_id FROM {rel}" for rel, _ in sources)
        or "SELECT CAST(NULL AS VARCHAR) AS trader_id WHERE false"
    )
    ids = [
        r[0]
        for r in con.execute(
            f"SELECT trader_id FROM ({union}) WHERE trader_id IS NOT NULL"
        ).fetchall()
    ]
    # One Arrow table in one statement: executemany would be a round trip per trader (~20 s per 100k).
    rows = pa.table(
        {
            "trader_id": pa.array(ids, pa.string()),
            "pseudonym": pa.array([pseudonym(secret, i) for i in ids], pa.string()),
        }
    )
    con.register("_pseudonym_rows", rows)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _pseudonyms AS SELECT trader_id, pseudonym FROM _pseudonym_rows"
        )
    finally:
        con.unregister("_pseudonym_rows")


def publish_signature(con, secret: str, sources: list[tuple[str, str]]) -> str:
    """What the previous published file must share with this run for a month-by-month update:
    the pseudonym key (by fingerprint) and every published table's columns."""
    digest = hashlib.sha256(hashlib.sha256(secret.encode("utf-8")).digest())
    for rel, name in sources:
        digest.update(f"{name}:{','.join(_columns(con, *_split(rel)))};".encode())
    return digest.hexdigest()


def kill_point(name: str) -> None:
    """Test hook for the crash tests: SIGKILL this process here when CUSTOMS_KPI_TEST_KILL_AT names `name`."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def publish(settings: Settings, secret: str, *, ledger_only: bool = False) -> PublishResult:
    """Publish the work database's marts and the load ledger as a new file and a new Parquet
    version, each swapped in atomically (`ledger_only`: the ledger tables only, the rest as
    last published).

    Month-partitioned tables (fct_declarations) grow with history, so when the
    previous published file is compatible (same key, same columns) the new file
    starts as a byte copy of it and only the months rebuilt since the last
    publish (meta.unpublished_months) are replaced, in the file and in the
    Parquet dataset (the other months are hard links to the previous version).
    Otherwise, or after a full refresh, everything is written anew.
    """
    marts_dir = settings.marts_dir
    marts_dir.mkdir(parents=True, exist_ok=True)
    sweep_temporary(marts_dir)
    tmp = marts_dir / f".warehouse.{uuid.uuid4().hex}.duckdb{TEMP_MARK}"
    result = PublishResult(settings.published_db, ledger_only=ledger_only)
    version: Path | None = None
    con = connect(settings.work_db, settings)
    try:
        ensure_raw_schema(con)
        taken_at = con.execute("SELECT max(noted_at) FROM meta.unpublished_months").fetchall()[0][0]
        pending = [
            r[0]
            for r in con.execute("SELECT DISTINCT month FROM meta.unpublished_months").fetchall()
        ]
        sources = [] if ledger_only else [(f"marts.{q(t)}", t) for t in marts_tables(con)]
        sources += [(rel, name) for name, rel in LEDGER_TABLES.items()]
        signature = publish_signature(con, secret, sources)
        previous = dict(con.execute("SELECT key, value FROM meta.publish_state").fetchall())
        has_previous = settings.published_db.is_file()
        incremental = (
            not ledger_only
            and has_previous
            and previous.get("signature") == signature
            and None not in pending
        )
        result.incremental = incremental
        # The months noted up to now, as a subquery (none noted: an empty one).
        pending_sql = (
            f"SELECT month FROM meta.unpublished_months WHERE noted_at <= TIMESTAMP {lit(str(taken_at))}"
            if taken_at is not None
            else "SELECT CAST(NULL AS DATE) WHERE false"
        )

        def rows_of(rel: str, name: str) -> str:
            """The rows of `rel` this publish writes: the pending months of a partitioned table, else all."""
            column = PARTITIONED.get(name)
            if incremental and column:
                return f"(SELECT * FROM {rel} WHERE {q(column)} IN ({pending_sql}))"
            return rel

        with_trader = [
            (rows_of(rel, name), name)
            for rel, name in sources
            if "trader_id" in _columns(con, *_split(rel))
        ]
        _pseudonym_map(con, secret, with_trader)
        # The deliveries the published KPIs are built from: this run's (a full publish), or the
        # ones the last full publish recorded (a ledger-only publish).
        kpi_deliveries = "meta.published_deliveries" if ledger_only else f"({DELIVERIES_SQL})"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _kpi_deliveries AS SELECT feed, month, delivery_sha256 FROM {kpi_deliveries}"
        )

        if incremental or (ledger_only and has_previous):
            shutil.copyfile(
                settings.published_db, tmp
            )  # a kernel copy, keeping its storage version
            con.execute(f"ATTACH {lit(str(tmp))} AS pub")
        else:
            con.execute(f"ATTACH {lit(str(tmp))} AS pub (STORAGE_VERSION {lit(STORAGE_VERSION)})")
        con.execute("CREATE SCHEMA IF NOT EXISTS pub.marts")
        for rel, name in sources:
            column = PARTITIONED.get(name)
            if incremental and column:
                con.execute(f"DELETE FROM pub.marts.{q(name)} WHERE {q(column)} IN ({pending_sql})")
                con.execute(
                    f"INSERT INTO pub.marts.{q(name)} {published_select(con, rel, rows_of(rel, name))}"
                )
            else:
                con.execute(
                    f"CREATE OR REPLACE TABLE pub.marts.{q(name)} AS {published_select(con, rel)}"
                )
        for name in marts_tables(con, "pub"):
            result.tables[name] = con.execute(
                f"SELECT count(*) FROM pub.marts.{q(name)}"
            ).fetchall()[0][0]
        if not ledger_only:  # a ledger-only publish keeps the views of the file it copied
            result.views = publish_views(con, "pub")
        con.execute("DETACH pub")

        # The Parquet set: a new version folder, then the pointer is moved to it.
        current = current_parquet(marts_dir)
        version = new_parquet_version(marts_dir)
        con.execute(f"ATTACH {lit(str(tmp))} AS pub (READ_ONLY)")
        # The months of fct_declarations to write: none (a ledger-only publish), the pending ones, or all (None).
        if ledger_only:
            months = set()
        elif incremental:
            months = {r[0] for r in con.execute(pending_sql).fetchall()}
        else:
            months = None
        write_parquet(
            con,
            "pub.marts",
            list(result.tables),
            version,
            current,
            rewrite={name for _, name in sources},
            months=months,
        )
        con.execute("DETACH pub")
        kill_point("parquet-written")
        os.replace(tmp, settings.published_db)
        kill_point("warehouse-swapped")
        point_parquet_to(marts_dir, version)
        result.parquet = version
        write_publish_record(
            marts_dir, version, current, None if months is None else sorted(months)
        )
        if current is not None:
            os.utime(current)  # its mtime now says when it was replaced
        kill_point("parquet-swapped")
        if not ledger_only:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM meta.publish_state")
            con.execute("INSERT INTO meta.publish_state VALUES ('signature', ?)", [signature])
            con.execute("DELETE FROM meta.published_deliveries")
            con.execute(
                "INSERT INTO meta.published_deliveries SELECT feed, month, delivery_sha256, ? FROM _kpi_deliveries",
                [datetime.now(timezone.utc).replace(tzinfo=None)],
            )
            if taken_at is not None:
                con.execute("DELETE FROM meta.unpublished_months WHERE noted_at <= ?", [taken_at])
            con.execute("COMMIT")
        remove_parquet_versions(marts_dir, keep={version, current})
        remove_legacy_parquet(settings, result.tables)
    finally:
        con.close()
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if version is not None and result.parquet is None:  # failed before the swap
            shutil.rmtree(version, ignore_errors=True)
    return result


# ---- what the last publish changed ------------------------------------------------------------

PUBLISH_RECORD = ".publish.json"


def write_publish_record(
    marts_dir: Path, version: Path, previous: Path | None, months: list | None
) -> None:
    """`marts/.publish.json`: the Parquet version this publish made, the one it replaced, and the
    months it rewrote (null: everything). What is built from the published file (the report's
    explanation pages) redoes only those months when it was built from the version replaced."""
    record = {
        "version": version.name,
        "previous": previous.name if previous is not None else None,
        "months": None if months is None else [f"{m:%Y-%m-%d}" for m in months],
    }
    tmp = marts_dir / f"{PUBLISH_RECORD}.{uuid.uuid4().hex}{TEMP_MARK}"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, marts_dir / PUBLISH_RECORD)


def read_publish_record(marts_dir: Path) -> dict | None:
    """The last publish's record, if it describes the version `marts/parquet` names now (a
    publish killed between its swap and its record leaves a record that does not)."""
    try:
        record = json.loads((marts_dir / PUBLISH_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = current_parquet(marts_dir)
    return record if current is not None and record.get("version") == current.name else None


# ---- the Parquet versions -------------------------------------------------------------------------


def current_parquet(marts_dir: Path) -> Path | None:
    """The version folder `marts/parquet` names, or None before the first publish."""
    pointer = marts_dir / PARQUET_POINTER
    if not pointer.is_symlink():
        if pointer.exists():
            raise RuntimeError(
                f"{pointer} must be the symbolic link the publisher manages, not a "
                f"{'folder' if pointer.is_dir() else 'file'}: move it away and publish again"
            )
        return None
    target = (marts_dir / os.readlink(pointer)).resolve()
    return target if target.is_dir() else None


def new_parquet_version(marts_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = marts_dir / PARQUET_VERSIONS / f"{stamp}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def point_parquet_to(marts_dir: Path, version: Path) -> None:
    """Replace the `marts/parquet` link in one rename (a relative link: the data dir may move)."""
    link = marts_dir / f".{PARQUET_POINTER}.{uuid.uuid4().hex}{TEMP_MARK}"
    os.symlink(os.path.relpath(version, marts_dir), link)
    os.replace(link, marts_dir / PARQUET_POINTER)


def remove_parquet_versions(marts_dir: Path, keep: set[Path | None]) -> None:
    """Remove every version folder but the ones in `keep` (the new one and the one it replaced,
    which a reader that resolved the link just before the swap may still be reading) and those
    replaced (or, for a publish that never finished, built) less than VERSION_GRACE_SECONDS ago."""
    root = marts_dir / PARQUET_VERSIONS
    kept = {p.resolve() for p in keep if p is not None}
    cutoff = time.time() - VERSION_GRACE_SECONDS
    for path in root.iterdir() if root.is_dir() else ():
        if path.resolve() not in kept and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


def sweep_temporary(marts_dir: Path) -> None:
    """Remove what a killed publish left beside the published files: the half-written DuckDB
    file and its write-ahead log, a link not yet renamed. No reader ever opens these."""
    for path in marts_dir.glob(f".*{TEMP_MARK}*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_legacy_parquet(settings: Settings, tables) -> None:
    """Files of the layout before versioned Parquet (marts/<table>.parquet): they would go stale."""
    for name in tables:
        (settings.marts_dir / f"{name}.parquet").unlink(missing_ok=True)
    shutil.rmtree(settings.work_dir / "published_parts", ignore_errors=True)


def link_file(src: Path, dst: Path) -> None:
    """A hard link (same file system: no bytes copied); a copy where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_parquet(
    con,
    schema: str,
    tables: list[str],
    out: Path,
    previous: Path | None,
    *,
    rewrite: set[str],
    months: set | None,
) -> None:
    """The Parquet set of `schema`'s tables in the version folder `out`: `<table>.parquet`, or
    `<table>/<column>=<YYYY-MM-DD>/*.parquet` for a PARTITIONED table.

    Tables in `rewrite` are written from the database; the others are linked from the
    `previous` version where it has them. A partitioned table writes the `months` given
    (None: all) and links its other months from `previous`.
    """
    for name in tables:
        column = PARTITIONED.get(name)
        rel = f"{schema}.{q(name)}"
        if column:
            old = previous / name if previous is not None else None
            write_partitioned(
                con,
                rel,
                column,
                out / name,
                old if old is not None and old.is_dir() else None,
                months if name in rewrite else set(),
            )
        else:
            target, old = (
                out / f"{name}.parquet",
                previous / f"{name}.parquet" if previous is not None else None,
            )
            if name not in rewrite and old is not None and old.is_file():
                link_file(old, target)
            else:
                con.execute(f"COPY {rel} TO {lit(str(target))} (FORMAT parquet)")
        kill_point("parquet-partial")


def write_partitioned(
    con, rel: str, column: str, out: Path, previous: Path | None, months: set | None
) -> None:
    """A Hive-partitioned dataset of `rel` by its DATE `column`, written by DuckDB for the
    `months` given (None: all; a NULL month is always written) and hard-linked from `previous`
    for the others."""
    present = [r[0] for r in con.execute(f"SELECT DISTINCT {q(column)} FROM {rel}").fetchall()]
    write, link = [], []
    for month in present:
        old = (
            previous / f"{column}={month.isoformat()}"
            if previous is not None and month is not None
            else None
        )
        if months is None or month is None or month in months or old is None or not old.is_dir():
            write.append(month)
        else:
            link.append(old)
    out.mkdir()
    if write:
        listed = ", ".join(lit(m.isoformat()) for m in write if m is not None) or "NULL"
        where = f"{q(column)} IN ({listed})" + (f" OR {q(column)} IS NULL" if None in write else "")
        con.execute(
            f"COPY (SELECT * FROM {rel} WHERE {where}) TO {lit(str(out))} "
            f"(FORMAT parquet, PARTITION_BY ({q(column)}))"
        )
    for old in link:
        (out / old.name).mkdir()
        for part in old.iterdir():
            link_file(part, out / old.name / part.name)


def published_select(con, rel: str, rows: str | None = None) -> str:
    """The query that publishes a relation (or `rows`, a subquery over it): trader ids as
    pseudonyms (temp table _pseudonyms), the raw text of rejected rows blanked for feeds that
    carry trader identity, and the load ledger flagged with `in_published_kpis` (temp table
    _kpi_deliveries: the delivery each feed-month's published KPIs are built from)."""
    cols = _columns(con, *_split(rel))
    if "trader_id" in cols:
        select = ", ".join(
            "p.pseudonym AS trader_id" if c == "trader_id" else f"s.{q(c)}" for c in cols
        )
        return f"SELECT {select} FROM {rows or rel} s LEFT JOIN _pseudonyms p ON p.trader_id = s.trader_id"
    if rel == LEDGER_TABLES["load_rejects"]:
        feeds = ", ".join(lit(f) for f in IDENTITY_FEEDS) or "NULL"
        return f"SELECT * REPLACE (CASE WHEN feed IN ({feeds}) THEN NULL ELSE raw_text END AS raw_text) FROM {rel}"
    if rel == LEDGER_TABLES["load_audit"]:
        return (
            f"SELECT a.*, coalesce(k.delivery_sha256 = d.delivery_sha256, false) AS in_published_kpis FROM {rel} a "
            f"LEFT JOIN ({DELIVERIES_SQL}) d ON d.feed = a.feed AND d.month = a.month "
            "LEFT JOIN _kpi_deliveries k ON k.feed = a.feed AND k.month = a.month"
        )
    return f"SELECT * FROM {rel}"


def _split(rel: str) -> tuple[str, str]:
    schema, _, table = rel.partition(".")
    return schema, table.strip('"')


def open_published(path: Path | str, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Read the published file as it is now, read-only.

    `duckdb.connect(path)` would hand back a cached database instance when
    this process already has the path open, i.e. the file as it was before the
    last swap; attaching it to a fresh in-memory database always opens the
    current file. A step of the run passes its `settings`: DuckDB then holds to the run's
    memory limit and spills to a folder of this process beside the work database's
    (DuckDB's own default would be 80 % of the machine's memory, and no spilling).
    """
    config = (
        settings.duckdb_config(settings.work_dir / f"tmp-published-{os.getpid()}")
        if settings is not None
        else {}
    )
    con = duckdb.connect(config=config)
    con.execute(f"ATTACH {lit(str(path))} AS warehouse (READ_ONLY)")
    con.execute("USE warehouse")
    return con
