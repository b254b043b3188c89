"""A BI-style reader in its own process: SQLAlchemy + duckdb_engine, querying in a loop.

    python tests/bi_reader.py --url URL [--engine-params JSON] --mode fresh|held
                              [--probe-write] [--stop STOPFILE | --once] [--deadline SECONDS]

The engine is built as Superset builds it: `create_engine(URL, **engine_params)`
with no pool (NullPool), the URL and the engine parameters being what a user
types into Superset (tests/bi_world.py reads them from docs/bi.md).
`fresh` opens a new connection per query, as Superset does by default;
`held` keeps one connection open for the whole loop, as a pooled BI
connection or an analyst's open session. With `--probe-write`, every
connection also tries to create a table after its query; the error (or "ok"
if the write went through) is recorded. Each query's result (or error) is one
JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

QUERY = (
    "SELECT strftime(month, '%Y-%m') AS month, count(*) AS kpi_rows, "
    "(SELECT count(*) FROM marts.kpi_catalog) AS catalog_rows "
    "FROM marts.kpi_monthly GROUP BY 1 ORDER BY 1"
)
PROBE = "CREATE TABLE marts.bi_reader_write_probe AS SELECT 1 AS x"


def probe_write(con) -> str:
    """Try a write on `con`; its error message, or "ok" if it went through (then undone)."""
    try:
        con.execute(text(PROBE))
    except Exception as exc:
        con.rollback()
        return f"{type(exc).__name__}: {exc}"
    con.rollback()
    return "ok"


def query(con, probe: bool) -> dict:
    record = {"rows": [list(r) for r in con.execute(text(QUERY)).fetchall()]}
    if probe:
        record["write"] = probe_write(con)
    return record


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="SQLAlchemy URL, as typed into Superset")
    p.add_argument(
        "--engine-params", default="{}", help="JSON, as Superset's Advanced → Engine parameters"
    )
    p.add_argument("--mode", choices=["fresh", "held"], required=True)
    p.add_argument("--probe-write", action="store_true", help="try a write on every connection")
    p.add_argument("--stop", help="stop when this file exists")
    p.add_argument("--once", action="store_true", help="one query, then stop")
    p.add_argument("--deadline", type=float, default=600)
    p.add_argument("--pause", type=float, default=0.25)
    args = p.parse_args()
    engine = create_engine(args.url, poolclass=NullPool, **json.loads(args.engine_params))
    stop, end = Path(args.stop) if args.stop else None, time.monotonic() + args.deadline
    held = engine.connect() if args.mode == "held" else None
    try:
        while not (stop and stop.exists()) and time.monotonic() < end:
            started = time.time()
            try:
                if held is not None:
                    record = query(held, args.probe_write)
                else:
                    with engine.connect() as con:
                        record = query(con, args.probe_write)
            except Exception as exc:  # recorded, never raised: the test counts failures
                record = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps({"t": started, **record}), flush=True)
            if args.once:
                break
            time.sleep(args.pause)
    finally:
        if held is not None:
            held.close()
        engine.dispose()


if __name__ == "__main__":
    main()
