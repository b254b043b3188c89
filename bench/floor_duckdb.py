"""(a) The floor: the least a DuckDB user would write to get the TRS mart.

Loads one month's declarations CSV into a table of a new DuckDB file, then
computes `trs_monthly` with the project's definitions (docs/kpis.md): month of
lodgement, the declaration type, transport mode, AEO status on the lodgement
date and final lane, with counts and the mean, median and 90th percentile of
the three intervals in hours. No row checks, no audit, no rejects: rows that
do not parse are skipped (`ignore_errors`).

    python bench/floor_duckdb.py RAW_DIR YYYY-MM OUT.duckdb [--threads N] [--memory-limit 4GB]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

DECLARATION_TYPES = {
    "declaration_id": "VARCHAR",
    "declaration_type": "VARCHAR",
    "office_code": "VARCHAR",
    "transport_mode": "VARCHAR",
    "trader_id": "VARCHAR",
    "category": "VARCHAR",
    "is_paperless": "VARCHAR",
    "partner_country": "VARCHAR",
    "hs_code": "VARCHAR",
    "customs_value": "DOUBLE",
    "duty_amount": "DOUBLE",
    "clearance_cost": "DOUBLE",
    "arrival_at": "TIMESTAMP",
    "lodged_at": "TIMESTAMP",
    "released_at": "TIMESTAMP",
    "edoc_seconds": "DOUBLE",
}
LANE_TYPES = {
    "declaration_id": "VARCHAR",
    "lane": "VARCHAR",
    "assigned_at": "TIMESTAMP",
    "selection": "VARCHAR",
    "rule_id": "VARCHAR",
    "inspection_ended_at": "TIMESTAMP",
    "finding": "VARCHAR",
}
REGISTER_TYPES = {
    "application_id": "VARCHAR",
    "trader_id": "VARCHAR",
    "submitted_at": "TIMESTAMP",
    "decision": "VARCHAR",
    "decided_at": "TIMESTAMP",
    "valid_from": "DATE",
    "valid_to": "DATE",
    "revoked_at": "TIMESTAMP",
}


def read_csv(pattern: Path, types: dict[str, str]) -> str:
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
    return f"read_csv('{pattern}', header = true, columns = {{{columns}}}, ignore_errors = true)"


def stats(column: str) -> str:
    return (
        f"avg({column}) AS mean_{column}, quantile_cont({column}, 0.5) AS median_{column}, "
        f"quantile_cont({column}, 0.9) AS p90_{column}"
    )


def trs_sql(raw: Path, month: str) -> str:
    lanes = read_csv(raw / "lanes" / month / "*.csv", LANE_TYPES)
    register = read_csv(raw / "aeo_register" / month / "*.csv", REGISTER_TYPES)
    return f"""
    CREATE TABLE trs_monthly AS
    WITH final_lanes AS (
        SELECT declaration_id, arg_max(lane, assigned_at) AS final_lane
        FROM {lanes} GROUP BY declaration_id
    ), certificates AS (
        SELECT trader_id, valid_from,
               CASE WHEN valid_to IS NULL THEN revoked_at
                    WHEN revoked_at IS NULL THEN valid_to
                    ELSE least(valid_to, revoked_at) END AS valid_until
        FROM {register} WHERE decision = 'APPROVED'
    ), aeo AS (
        SELECT DISTINCT d.declaration_id
        FROM declarations d JOIN certificates c
          ON c.trader_id = d.trader_id AND c.valid_from <= CAST(d.lodged_at AS DATE)
         AND (c.valid_until IS NULL OR CAST(d.lodged_at AS DATE) < c.valid_until)
    ), timed AS (
        SELECT CAST(date_trunc('month', d.lodged_at) AS DATE) AS month, d.declaration_type, d.transport_mode,
               aeo.declaration_id IS NOT NULL AS is_aeo, l.final_lane, d.released_at,
               epoch(d.released_at - d.lodged_at) / 3600 AS hours_lodged_to_release,
               epoch(d.lodged_at - d.arrival_at) / 3600 AS hours_arrival_to_lodged,
               epoch(d.released_at - d.arrival_at) / 3600 AS hours_arrival_to_release
        FROM declarations d
        LEFT JOIN aeo ON aeo.declaration_id = d.declaration_id
        LEFT JOIN final_lanes l ON l.declaration_id = d.declaration_id
    )
    SELECT month, declaration_type, transport_mode, is_aeo, final_lane,
           count(*) AS declarations, count(released_at) AS released_declarations,
           {stats("hours_lodged_to_release")}, {stats("hours_arrival_to_lodged")},
           {stats("hours_arrival_to_release")},
           100.0 * count(CASE WHEN hours_lodged_to_release <= 24 THEN 1 END) / count(*) AS released_within_24h_share
    FROM timed GROUP BY ALL
    """


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("month", help="YYYY-MM")
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--memory-limit")
    args = parser.parse_args(argv)
    config = {}
    if args.threads:
        config["threads"] = args.threads
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    with duckdb.connect(str(args.out), config=config) as con:
        decl = read_csv(args.raw / "declarations" / args.month / "*.csv", DECLARATION_TYPES)
        con.execute(f"CREATE TABLE declarations AS SELECT * FROM {decl}")
        con.execute(trs_sql(args.raw, args.month))
        rows = con.execute("SELECT count(*), sum(declarations) FROM trs_monthly").fetchall()[0]
    print(f"trs_monthly: {rows[0]} cells, {rows[1]} declarations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
