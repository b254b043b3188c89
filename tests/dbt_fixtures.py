"""A small hand-made work database for the dbt project, and a dbt runner for tests.

Rows go straight into the raw layer (as the loader would leave them: typed,
UTC timestamps, upper-case codes) with the lineage columns filled in, so that
the dbt tests exercise the models alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.contract import feed_by_name
from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.settings import DBT_DIR

LOADED_AT = datetime(2024, 5, 2, 6, 0, 0)

# Column defaults so that each test row names only what it is about.
DEFAULTS: dict[str, dict[str, Any]] = {
    "declarations": {
        "declaration_type": "IM",
        "office_code": "KZ01",
        "transport_mode": "ROAD",
        "trader_id": "000777",
        "category": 4,
        "is_paperless": True,
        "partner_country": "CN",
        "hs_code": "847130",
        "customs_value": 1000.0,
        "duty_amount": None,
        "clearance_cost": None,
        "edoc_seconds": None,
        "arrival_at": None,
        "released_at": None,
    },
    "lanes": {"selection": None, "rule_id": None, "inspection_ended_at": None, "finding": None},
    "drawback": {
        "declaration_id": None,
        "decided_at": None,
        "amount_approved": None,
        "status": "PENDING",
    },
    "tickets": {"system": "clearance", "due_at": None, "resolved_at": None},
    "aeo_register": {"decided_at": None, "valid_from": None, "valid_to": None, "revoked_at": None},
    "manual": {"note": None},
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def month(text: str) -> date:
    return date.fromisoformat(text + "-01")


def create_work_db(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        ensure_raw_schema(con)
    finally:
        con.close()


def deliver(path: Path, feed: str, partition: str, files: dict[str, list[dict[str, Any]]]) -> None:
    """Replace everything `feed` holds for month `partition` (YYYY-MM) with `files`
    ({file name: rows}), as a re-delivery does, and record it in raw.load_audit."""
    columns = feed_by_name(feed).column_names
    placeholders = ", ".join("?" for _ in range(len(columns) + 4))
    con = duckdb.connect(str(path))
    try:
        con.execute(f"DELETE FROM raw.{feed} WHERE _month = ?", [month(partition)])
        con.execute(
            "DELETE FROM raw.load_audit WHERE feed = ? AND month = ?", [feed, month(partition)]
        )
        for file, rows in files.items():
            values = []
            for line, row in enumerate(rows, start=2):
                full = {**DEFAULTS[feed], **row}
                unknown = set(full) - set(columns)
                if unknown:
                    raise KeyError(f"{feed} has no column(s) {sorted(unknown)}")
                lineage = [month(partition), file, line, LOADED_AT]
                values.append([full.get(c) for c in columns] + lineage)
            if values:
                con.executemany(f"INSERT INTO raw.{feed} VALUES ({placeholders})", values)
            con.execute(
                "INSERT INTO raw.load_audit "
                "VALUES (?, ?, ?, NULL, ?, ?, 0, 'not_checked', NULL, NULL, ?)",
                [feed, month(partition), file, len(rows), len(rows), LOADED_AT],
            )
    finally:
        con.close()


def set_build_window(path: Path, month_from: str, month_to: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("DELETE FROM meta.build_window")
        con.execute(
            "INSERT INTO meta.build_window VALUES (?, ?)", [month(month_from), month(month_to)]
        )
    finally:
        con.close()


def query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def rows_by_id(path: Path, table: str, key: str) -> dict[str, dict[str, Any]]:
    con = duckdb.connect(str(path))
    try:
        cur = con.execute(f"SELECT * FROM {table} ORDER BY {key}")
        names = [d[0] for d in cur.description]
        return {r[names.index(key)]: dict(zip(names, r)) for r in cur.fetchall()}
    finally:
        con.close()


@dataclass
class NodeResult:
    unique_id: str
    status: str
    message: str | None


@dataclass
class DbtRun:
    success: bool
    results: list[NodeResult]
    error: BaseException | None


def dbt_command(
    args: list[str], tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """dbt on the project in dbt/ in a child process, as a pipeline run starts it
    (dagster_project/transform/child.py), with target and logs under `tmp` and `env` over this
    process's environment (the work database and time zone: CUSTOMS_KPI_WORK_DB,
    CUSTOMS_KPI_TZ).

    Never in-process (dbtRunner): dbt-duckdb's modules hold `duckdb.DuckDBPyConnection` in their
    globals, and in a test process that also holds a C-level root into that module graph
    (pyarrow's pandas shim, filelock's at-fork hooks), the graph outlives interpreter
    finalisation and nanobind reports the `_duckdb` types, functions and `duckdb.sqltypes`
    constants as leaked at exit.
    """
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),  # this interpreter's dbt, in any checkout
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(tmp / "dbt_target"),
            "--log-path",
            str(tmp / "dbt_logs"),
            "--no-use-colors",
        ],
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_dbt(args: list[str], tmp: Path) -> DbtRun:
    """`dbt_command` with its node results (from run_results.json)."""
    results_file = tmp / "dbt_target" / "run_results.json"
    results_file.unlink(missing_ok=True)
    proc = dbt_command([*args, "--quiet"], tmp)
    results = []
    if results_file.exists():
        results = [
            NodeResult(r["unique_id"], r.get("status"), r.get("message"))
            for r in json.loads(results_file.read_text()).get("results", [])
        ]
    error = None
    if proc.returncode != 0 and not results:
        error = RuntimeError(
            f"dbt {' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return DbtRun(success=proc.returncode == 0, results=results, error=error)


def failures(run: DbtRun) -> list[str]:
    """Names and messages of the nodes that did not pass, for assertion messages."""
    bad = []
    for r in run.results:
        if r.status not in ("success", "pass", "warn"):
            bad.append(f"{r.unique_id}: {r.status}: {r.message or ''}")
    if run.error is not None:
        bad.append(repr(run.error))
    return bad
