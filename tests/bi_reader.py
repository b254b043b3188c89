"""A BI-style reader in its own process: SQLAlchemy + duckdb_engine, read-only, querying in a loop.

    python tests/bi_reader.py DB --mode fresh|held [--stop STOPFILE | --once] [--deadline SECONDS]

`fresh` opens a new connection per query (NullPool), as a BI server configured
not to keep connections, read-only through the URL (`?access_mode=read_only`);
`held` keeps one connection open for the whole loop, as a pooled BI
connection or an analyst's open session, read-only through `connect_args`. Each query's result
(or error) is one JSON line on stdout.
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("--mode", choices=["fresh", "held"], required=True)
    p.add_argument("--stop", help="stop when this file exists")
    p.add_argument("--once", action="store_true", help="one query, then stop")
    p.add_argument("--deadline", type=float, default=600)
    p.add_argument("--pause", type=float, default=0.25)
    args = p.parse_args()
    if args.mode == "fresh":  # read-only in the URL, as in Superset's SQLAlchemy URI (docs/bi.md)
        engine = create_engine(f"duckdb:///{args.db}?access_mode=read_only", poolclass=NullPool)
    else:  # read-only in connect_args, as in Superset's engine parameters
        engine = create_engine(f"duckdb:///{args.db}", connect_args={"read_only": True}, poolclass=NullPool)
    stop, end = Path(args.stop) if args.stop else None, time.monotonic() + args.deadline
    held = engine.connect() if args.mode == "held" else None
    try:
        while not (stop and stop.exists()) and time.monotonic() < end:
            started = time.time()
            try:
                if held is not None:
                    rows = held.execute(text(QUERY)).fetchall()
                else:
                    with engine.connect() as con:
                        rows = con.execute(text(QUERY)).fetchall()
                record = {"t": started, "rows": [list(r) for r in rows]}
            except Exception as exc:  # recorded, never raised: the test counts failures
                record = {"t": started, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(record), flush=True)
            if args.once:
                break
            time.sleep(args.pause)
    finally:
        if held is not None:
            held.close()
        engine.dispose()


if __name__ == "__main__":
    main()
