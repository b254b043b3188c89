"""Row checks as SQL, generated from the feed contract.

`typed_select_sql` turns the all-text rows of a feed-month (relation `_in`:
`_fidx`, `_file`, `_line` and one VARCHAR per contract column) into typed
columns plus `_fault_column` / `_fault` for the first fault of the row, in
contract order: each column's own checks, then the cross-column rules, then
the anchor month, then duplicate ids. The query runs with the DuckDB session
time zone set to the administration's, so naive timestamps are read as local
time and timestamps with an offset are converted; both are stored as UTC.
"""

from __future__ import annotations

from dagster_project.contract import Column, Feed, RowRule
from dagster_project.contract.countries import ISO_3166_ALPHA2
from dagster_project.warehouse.sql import in_list, lit, q

TRUE_WORDS = ("true", "1", "y", "yes")
FALSE_WORDS = ("false", "0", "n", "no")


def _v(col: Column) -> str:
    """The trimmed text value of a column (empty = null)."""
    return q(f"{col.name}__v")


def typed_expr(col: Column) -> str:
    v = _v(col)
    if col.type in ("text", "code", "country"):
        if col.type == "text":
            return v
        return f"lower({v})" if col.case == "lower" else f"upper({v})"
    if col.type == "int":
        return f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]+') THEN try_cast({v} AS BIGINT) END"
    if col.type == "decimal":
        return f"try_cast({v} AS DOUBLE)"
    if col.type == "bool":
        return (
            f"CASE WHEN lower({v}) IN {in_list(TRUE_WORDS)} THEN true "
            f"WHEN lower({v}) IN {in_list(FALSE_WORDS)} THEN false END"
        )
    if col.type == "timestamp":
        # session TimeZone = administration zone: naive text is local, offsets are honoured
        return f"timezone('UTC', try_cast({v} AS TIMESTAMPTZ))"
    if col.type == "date":
        return f"try_cast({v} AS DATE)"
    raise ValueError(f"unknown column type {col.type}")


def column_checks(col: Column, code_sets: dict[str, frozenset[str]]) -> list[tuple[str, str]]:
    """(condition that means a fault, reason) pairs for one column, in order."""
    v, t = _v(col), q(col.name)
    checks: list[tuple[str, str]] = []
    if col.required:
        checks.append((f"{v} IS NULL", "missing required value"))
    parse_reason = {
        "int": "not an integer",
        "decimal": "not a decimal number",
        "bool": "not a boolean (true/false, 1/0, Y/N, yes/no)",
        "timestamp": "not an ISO 8601 timestamp",
        "date": "not a date (YYYY-MM-DD)",
    }.get(col.type)
    if parse_reason:
        checks.append((f"{v} IS NOT NULL AND {t} IS NULL", parse_reason))
    if col.type == "decimal":
        checks.append((f"{t} IS NOT NULL AND NOT isfinite({t})", "not a finite number"))
        if not col.signed:
            checks.append((f"{t} < 0", "negative value"))
    if col.type == "int" and col.min_value is not None and col.max_value is not None:
        checks.append(
            (
                f"{t} NOT BETWEEN {col.min_value:g} AND {col.max_value:g}",
                f"out of range {col.min_value:g}-{col.max_value:g}",
            )
        )
    if col.type == "code":
        codes = frozenset(col.codes) if col.codes else code_sets[col.codes_from or ""]
        label = "|".join(col.codes) if col.codes else col.codes_from
        checks.append(
            (
                f"{t} NOT IN {in_list(codes) if codes else '(NULL)'}",
                f"code outside its set ({label})",
            )
        )
    if col.type == "country":
        checks.append(
            (
                f"{t} NOT IN {in_list(ISO_3166_ALPHA2)}",
                "not an assigned ISO 3166-1 alpha-2 country code",
            )
        )
    if col.pattern:
        checks.append(
            (
                f"NOT regexp_full_match({t}, {lit(col.pattern)})",
                f"not {col.pattern_hint or col.pattern}",
            )
        )
    return checks


def rule_check(rule: RowRule) -> str:
    c, o = q(rule.column), q(rule.other)
    if rule.kind == "not_before":
        return f"{c} < {o}"
    if rule.kind == "not_above":
        return f"{c} > {o}"
    if rule.kind == "required_unless":
        return f"{c} IS NULL AND {o} NOT IN {in_list(rule.codes)}"
    if rule.kind == "required_when":
        return f"{c} IS NULL AND {o} IN {in_list(rule.codes)}"
    raise ValueError(rule.kind)


def local_month_expr(utc_ts: str, tz: str) -> str:
    return f"CAST(date_trunc('month', timezone({lit(tz)}, timezone('UTC', {utc_ts}))) AS DATE)"


def _fault_case(cases: list[tuple[str, str, str]]) -> tuple[str, str]:
    """Two CASE expressions (column, reason) taking the first matching condition."""
    if not cases:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    col_case = "CASE " + " ".join(f"WHEN {cond} THEN {lit(col)}" for cond, col, _ in cases) + " END"
    why_case = "CASE " + " ".join(f"WHEN {cond} THEN {lit(why)}" for cond, _, why in cases) + " END"
    return col_case, why_case


def typed_select_sql(
    feed: Feed,
    month_literal: str,
    tz: str,
    code_sets: dict[str, frozenset[str]],
    present_columns: set[str],
) -> str:
    """SELECT producing typed columns, lineage and the first fault of each row from `_in`."""
    text_cols = ", ".join(
        f"nullif(trim({q(c.name)}), '') AS {_v(c)}"
        if c.name in present_columns
        else f"CAST(NULL AS VARCHAR) AS {_v(c)}"
        for c in feed.columns
    )
    typed_cols = ", ".join(f"{typed_expr(c)} AS {q(c.name)}" for c in feed.columns)

    cases: list[tuple[str, str, str]] = []
    for col in feed.columns:
        for cond, why in column_checks(col, code_sets):
            cases.append((cond, col.name, why))
    for rule in feed.rules:
        cases.append((rule_check(rule), rule.column, rule.reason))
    if feed.anchor:
        anchor_month = local_month_expr(q(feed.anchor), tz)
        cases.append(
            (
                f"{anchor_month} <> DATE {month_literal}",
                feed.anchor,
                "anchor outside partition month",
            )
        )
    fault_col, fault_why = _fault_case(cases)

    key_dup = ""
    key_cols = ""
    if feed.key:
        k = q(feed.key)
        key_cols = (
            f", row_number() OVER (PARTITION BY {k}, (_fault IS NULL) ORDER BY _fidx, _line) AS _dup_rank"
            f", first_value(_file) OVER (PARTITION BY {k}, (_fault IS NULL) ORDER BY _fidx, _line) AS _first_file"
            f", first_value(_line) OVER (PARTITION BY {k}, (_fault IS NULL) ORDER BY _fidx, _line) AS _first_line"
        )
        key_dup = (
            f"WHEN _fault IS NULL AND _dup_rank > 1 THEN 'duplicate ' || {lit(feed.key)} || "
            f"' (first at ' || _first_file || ' line ' || _first_line || ')' "
        )

    return f"""
WITH texts AS (
    SELECT _fidx, _file, _line, {text_cols} FROM _in
), typed AS (
    SELECT *, {typed_cols} FROM texts
), checked AS (
    SELECT *, {fault_col} AS _fault_column, {fault_why} AS _fault FROM typed
), ranked AS (
    SELECT * {key_cols} FROM checked
)
SELECT * EXCLUDE (_fault, _fault_column),
    CASE WHEN _fault IS NOT NULL THEN _fault_column {"WHEN _fault IS NULL AND _dup_rank > 1 THEN " + lit(feed.key) if feed.key else ""} END AS _fault_column,
    CASE WHEN _fault IS NOT NULL THEN _fault {key_dup}END AS _fault
FROM ranked
"""
