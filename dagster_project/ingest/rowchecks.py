"""Row checks as SQL, generated from the feed contract.

`typed_select_sql` turns the all-text rows of one file (one VARCHAR per
contract column) into typed columns plus `_fault_column` / `_fault` for the
first fault of the row, in contract order: each column's own checks, then the
cross-column rules, then the anchor month. Duplicate ids come last, once every
file of the delivery is typed (`duplicate_key_sql`); `key_hashes_sql` and
`key_hash_sql` let the loader tell beforehand which rows may turn out to be
duplicates. The query runs with the DuckDB session time zone set to the
administration's, so naive timestamps are read as local time and timestamps
with an offset are converted; both are stored as UTC.
"""

from __future__ import annotations

from dagster_project.contract import Column, Feed, RowRule
from dagster_project.contract.countries import ISO_3166_ALPHA2
from dagster_project.warehouse.sql import in_list, list_lit, lit, q

TRUE_WORDS = ("true", "1", "y", "yes")
FALSE_WORDS = ("false", "0", "n", "no")


def in_set(expr: str, values) -> str:
    """`expr IN (values)` with SQL's NULL semantics, as a lookup in an ENUM of the values.

    Not a plain IN list: DuckDB turns a long one (the 249 country codes) into a join, and a join
    may hand rows on out of order, where the row checks must keep the file's order."""
    if not values:
        return f"({expr} IN (NULL))"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"ELSE try_cast({expr} AS ENUM{in_list(values)}) IS NOT NULL END"
    )


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
            f"CASE WHEN {in_set(f'lower({v})', TRUE_WORDS)} THEN true "
            f"WHEN {in_set(f'lower({v})', FALSE_WORDS)} THEN false END"
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
                f"NOT {in_set(t, codes)}",
                f"code outside its set ({label})",
            )
        )
    if col.type == "country":
        checks.append(
            (
                f"NOT {in_set(t, ISO_3166_ALPHA2)}",
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
        return f"{c} IS NULL AND NOT {in_set(o, rule.codes)}"
    if rule.kind == "required_when":
        return f"{c} IS NULL AND {in_set(o, rule.codes)}"
    raise ValueError(rule.kind)


def local_month_expr(utc_ts: str, tz: str) -> str:
    return f"CAST(date_trunc('month', timezone({lit(tz)}, timezone('UTC', {utc_ts}))) AS DATE)"


def typed_select_sql(
    feed: Feed,
    month_literal: str,
    tz: str,
    code_sets: dict[str, frozenset[str]],
    present_columns: set[str],
    source: str,
    *,
    keep: tuple[str, ...] = (),
    carry: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> str:
    """SELECT producing the `keep` columns of `source`, the typed columns and the first fault of
    each row (`_fault_column`, `_fault`), then the `extra` select items.

    `source` names its text columns after the contract; `extra` items may use the typed
    columns, `_fault_no` (the number of the row's first fault, NULL for none) and the `carry`
    columns of `source`. Row by row only, so it keeps the order of `source`: duplicate ids are
    marked afterwards (`duplicate_key_sql`). Each condition is evaluated once, into the number
    of the row's first fault, which then picks its column and reason from two lists."""
    passed = "".join(f"{c}, " for c in (*keep, *carry))
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
    if cases:
        fault_no = (
            "CASE "
            + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(cases, 1))
            + " END"
        )
        fault_col = f"{list_lit([c for _, c, _ in cases])}[_fault_no]"
        fault_why = f"{list_lit([w for _, _, w in cases])}[_fault_no]"
    else:
        fault_no = "CAST(NULL AS INTEGER)"
        fault_col = fault_why = "CAST(NULL AS VARCHAR)"
    columns = ", ".join(q(c.name) for c in feed.columns)
    kept = "".join(f"{c}, " for c in keep)
    extras = "".join(f", {e}" for e in extra)
    return f"""
WITH texts AS (
    SELECT {passed}{text_cols} FROM {source}
), typed AS (
    SELECT *, {typed_cols} FROM texts
), checked AS (
    SELECT *, {fault_no} AS _fault_no FROM typed
)
SELECT {kept}{columns}, {fault_col} AS _fault_column, {fault_why} AS _fault{extras}
FROM checked
"""


def key_hash_sql(key: str) -> str:
    """A hash of a typed key value: equal keys always share it, a few others do too."""
    return f"hash(CAST({key} AS VARCHAR))"


def key_hashes_sql(feed: Feed, source: str) -> str:
    """SELECT `h`: `key_hash_sql` of the key of each row of `source` (text, in a column named
    after the key) as the row checks type it; NULL keys left out."""
    col = feed.column(feed.key or "")
    typed = typed_expr(col)
    return (
        f"SELECT {key_hash_sql(typed)} AS h FROM "
        f"(SELECT nullif(trim({q(col.name)}), '') AS {_v(col)} FROM {source}) WHERE {typed} IS NOT NULL"
    )


def duplicate_key_sql(feed: Feed, rows: str, files: list[str]) -> str:
    """SELECT `_fidx`, `_rid`, `_fault` of every row of `rows` (typed rows of a delivery, with
    `_fidx`, `_line` and `_rid`, the row's id in its file's table) whose key an earlier row of
    the delivery (by file, then line) already holds: the first one stands. Only rows with no
    other fault count, on both sides. A GROUP BY finds the few duplicated keys; the key is a
    required column, so no NULL key is left among rows with no fault."""
    k = q(feed.key)
    names = list_lit(files)
    return (
        f"SELECT r._fidx, r._rid, 'duplicate ' || {lit(feed.key)} || ' (first at ' "
        f"|| {names}[d.first._fidx + 1] || ' line ' || d.first._line || ')' AS _fault "
        f"FROM {rows} r JOIN (SELECT {k} AS _k, min({{'_fidx': _fidx, '_line': _line}}) AS first "
        f"FROM {rows} WHERE _fault IS NULL GROUP BY {k} HAVING count(*) > 1) d ON r.{k} = d._k "
        f"WHERE r._fault IS NULL AND {{'_fidx': r._fidx, '_line': r._line}} > d.first"
    )
