"""Compare two warehouses' marts table by table, column by column (the engine test's check).

Rows are matched by their values outside the floating-point columns, both sides sorted the same
way; every value must be equal, doubles within a relative tolerance (the engines sum in
different orders). Returns the differences found, as lines naming table and column.
"""

from __future__ import annotations

import math

import duckdb

FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
# When each warehouse loaded its files: the ledger's clock, not a result of the build.
LOAD_TIMES = {"load_audit": {"loaded_at"}, "load_rejects": {"loaded_at"}}


def _relations(con, catalog: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'marts'",
        [catalog],
    ).fetchall()
    return dict(rows)


def _columns(con, catalog: str, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position",
        [catalog, table],
    ).fetchall()
    return dict(rows)


def _close(a, b, rel: float) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def compare_marts(left: str, right: str, *, rel: float = 1e-12, ignore=LOAD_TIMES) -> list[str]:
    """Differences between the marts of DuckDB files `left` and `right` ([] when equal); the
    columns in `ignore` (table -> names) are compared by type only."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{left}' AS l (READ_ONLY)")
    con.execute(f"ATTACH '{right}' AS r (READ_ONLY)")
    diffs: list[str] = []
    try:
        lrel, rrel = _relations(con, "l"), _relations(con, "r")
        if lrel != rrel:
            diffs.append(f"relations differ: {sorted(set(lrel.items()) ^ set(rrel.items()))}")
        for table in sorted(set(lrel) & set(rrel)):
            lcols, rcols = _columns(con, "l", table), _columns(con, "r", table)
            if lcols != rcols:
                diffs.append(f"marts.{table}: columns or types differ: {lcols} vs {rcols}")
                continue
            skipped = ignore.get(table, set())
            exact = [c for c, t in lcols.items() if t not in FLOAT_TYPES and c not in skipped]
            floats = [c for c, t in lcols.items() if t in FLOAT_TYPES and c not in skipped]
            names = [*exact, *floats]
            order = ", ".join(f'"{c}" NULLS FIRST' for c in names)
            select = ", ".join(f'"{c}"' for c in names)
            lrows = con.execute(
                f'SELECT {select} FROM l.marts."{table}" ORDER BY {order}'
            ).fetchall()
            rrows = con.execute(
                f'SELECT {select} FROM r.marts."{table}" ORDER BY {order}'
            ).fetchall()
            if len(lrows) != len(rrows):
                diffs.append(f"marts.{table}: {len(lrows)} rows vs {len(rrows)}")
                continue
            for lrow, rrow in zip(lrows, rrows):
                for i, column in enumerate(names):
                    a, b = lrow[i], rrow[i]
                    same = _close(a, b, rel) if column in floats else a == b
                    if not same:
                        diffs.append(
                            f"marts.{table}.{column}: {a!r} vs {b!r} (row {lrow[: len(exact)]})"
                        )
                        break
                if len(diffs) > 50:
                    return diffs
    finally:
        con.close()
    return diffs
