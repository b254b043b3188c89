"""What the quality gate measures for one feed-month, derived from the feed contract.

Every metric is one number per feed-month, computed inside DuckDB
(`compute.py`) and checked by one expectation of the feed's suite
(`expectations/<feed>.json`). Two levels:

* **column** metrics count accepted rows that break the contract (a required
  value missing, a code outside its set, a value out of range, a row rule, the
  anchor month, a duplicate id). The loader rejects such rows, so on accepted
  rows these counts must be 0: they verify the loader, and their bounds are
  fixed (0..0), not thresholds.
* **batch** metrics describe the delivery as a whole (row count against the
  months before, share of rejected rows, null share of optional columns,
  distributions, referential coverage). Their bounds are thresholds: they live
  only in the suite files, where an operator tunes them. Here each batch
  metric has just its natural domain (a share lies in 0..1), which is what a
  newly added expectation starts with until someone sets a threshold.

The metric name is the column of the metrics frame and the expectation's id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from dagster_project.contract import Column, Feed, RowRule
from dagster_project.contract.countries import ISO_3166_ALPHA2
from dagster_project.ingest.rowchecks import local_month_expr, rule_check
from dagster_project.warehouse.sql import in_list, lit, q

Level = Literal["column", "batch"]

# Placeholders in sample queries: {table} (the raw table) and {month} (DATE literal of the month).
SAMPLE_LIMIT = 10


@dataclass(frozen=True)
class Metric:
    name: str
    level: Level
    description: str
    # natural domain of the value; column metrics are always (0, 0)
    lower: float | None = 0
    upper: float | None = None
    # SQL aggregate over one month's accepted rows of the raw table (alias r); None: computed elsewhere
    aggregate: str | None = None
    # SQL returning at most SAMPLE_LIMIT offending rows for a failed month; None: no sample
    sample: str | None = None
    # what the metric mirrors in the contract (documentation in the suite)
    contract: dict = field(default_factory=dict)

    @property
    def is_threshold(self) -> bool:
        return self.level == "batch"


def _rows_where(feed: Feed, predicate: str, columns: list[str], order: str = "_file, _line") -> str:
    """Sample query: accepted rows of the month matching `predicate`, with their file and line."""
    ident = [feed.key] if feed.key else [c.name for c in feed.columns if c.required][:1]
    cols = ", ".join(q(c) for c in dict.fromkeys(["_file", "_line", *ident, *columns]))
    return (
        f"SELECT {cols} FROM {{table}} r WHERE _month = {{month}} AND ({predicate}) "
        f"ORDER BY {order} LIMIT {SAMPLE_LIMIT}"
    )


def _count(predicate: str) -> str:
    return f"count(*) FILTER (WHERE {predicate})"


def _codes(col: Column, code_sets: dict[str, frozenset[str]] | None) -> tuple[list[str], str]:
    if col.codes:
        return list(col.codes), "|".join(col.codes)
    name = col.codes_from or ""
    codes = sorted(code_sets.get(name, ())) if code_sets is not None else []
    return codes, name


def column_metrics(
    feed: Feed, tz: str, code_sets: dict[str, frozenset[str]] | None
) -> list[Metric]:
    """Contract rules as counts of offending accepted rows (must be 0)."""
    out: list[Metric] = []

    def add(
        name: str, predicate: str, description: str, columns: list[str], contract: dict
    ) -> None:
        out.append(
            Metric(
                name=name,
                level="column",
                description=description,
                lower=0,
                upper=0,
                aggregate=_count(predicate),
                sample=_rows_where(feed, predicate, columns),
                contract=contract,
            )
        )

    for col in feed.columns:
        c = q(col.name)
        if col.required:
            add(
                f"{col.name}__nulls",
                f"{c} IS NULL",
                f"`{col.name}` is never null (required column)",
                [col.name],
                {"column": col.name, "rule": "not_null"},
            )
        if col.type == "code":
            codes, label = _codes(col, code_sets)
            add(
                f"{col.name}__not_in_set",
                f"{c} NOT IN {in_list(codes) if codes else '(NULL)'}",
                f"`{col.name}` is one of its codes ({label}), stored {col.case} case",
                [col.name],
                {
                    "column": col.name,
                    "rule": "in_set",
                    "value_set": list(col.codes) if col.codes else f"code set {label}",
                },
            )
        if col.type == "country":
            add(
                f"{col.name}__not_in_set",
                f"{c} NOT IN {in_list(ISO_3166_ALPHA2)}",
                f"`{col.name}` is an assigned ISO 3166-1 alpha-2 code",
                [col.name],
                {"column": col.name, "rule": "in_set", "value_set": "ISO 3166-1 alpha-2"},
            )
        if col.type == "int" and col.min_value is not None and col.max_value is not None:
            add(
                f"{col.name}__out_of_range",
                f"{c} NOT BETWEEN {col.min_value:g} AND {col.max_value:g}",
                f"`{col.name}` lies between {col.min_value:g} and {col.max_value:g}",
                [col.name],
                {
                    "column": col.name,
                    "rule": "between",
                    "min_value": col.min_value,
                    "max_value": col.max_value,
                },
            )
        if col.type == "decimal":
            predicate = f"NOT isfinite({c})" if col.signed else f"NOT isfinite({c}) OR {c} < 0"
            add(
                f"{col.name}__out_of_range",
                predicate,
                f"`{col.name}` is a finite number" + ("" if col.signed else " and not negative"),
                [col.name],
                {
                    "column": col.name,
                    "rule": "between",
                    "min_value": None if col.signed else 0,
                    "max_value": None,
                },
            )
        if col.pattern:
            add(
                f"{col.name}__pattern",
                f"NOT regexp_full_match({c}, {lit(col.pattern)})",
                f"`{col.name}` matches {col.pattern_hint or col.pattern}",
                [col.name],
                {"column": col.name, "rule": "match_regex", "regex": col.pattern},
            )
    for rule in feed.rules:
        add(
            f"{rule.column}__{_rule_suffix(rule)}",
            rule_check(rule),
            _rule_description(rule),
            list(dict.fromkeys([rule.column, rule.other])),
            {
                "rule": rule.kind,
                "column": rule.column,
                "other": rule.other,
                "codes": list(rule.codes),
            },
        )
    if feed.anchor:
        predicate = f"{local_month_expr(q(feed.anchor), tz)} <> _month"
        add(
            f"{feed.anchor}__outside_month",
            predicate,
            f"`{feed.anchor}` (the anchor) falls in the delivery's month, local time",
            [feed.anchor],
            {"column": feed.anchor, "rule": "anchor_month"},
        )
    if feed.key:
        scope = {
            "event": "across all loaded months",
            "snapshot": "within the snapshot",
            "manual": "within the month",
        }[feed.kind]
        k = q(feed.key)
        other_months = (
            f" OR {k} IN (SELECT {k} FROM {{table}} WHERE _month <> {{month}})"
            if feed.kind == "event"
            else ""
        )
        sample = (
            f"SELECT _file, _line, {k} FROM {{table}} r WHERE _month = {{month}} AND ("
            f"{k} IN (SELECT {k} FROM {{table}} WHERE _month = {{month}} GROUP BY {k} HAVING count(*) > 1)"
            f"{other_months}) ORDER BY {k}, _file, _line LIMIT {SAMPLE_LIMIT}"
        )
        out.append(
            Metric(
                name=f"{feed.key}__duplicates",
                level="column",
                description=f"`{feed.key}` is unique {scope}",
                lower=0,
                upper=0,
                aggregate=None,  # compute.py: within the month and, for event feeds, across months
                sample=sample,
                contract={"column": feed.key, "rule": "unique", "scope": scope},
            )
        )
    return out


def _rule_suffix(rule: RowRule) -> str:
    return f"{rule.kind}_{rule.other}"


def _rule_description(rule: RowRule) -> str:
    return rule.rule_text.replace("must not be", "is not") + " (row rule)"


def _share_sample(column: str) -> str:
    """The month's distribution of one code column (the 'offending rows' of a share metric)."""
    c = q(column)
    return (
        f"SELECT {c}, count(*) AS rows, round(count(*) / sum(count(*)) OVER (), 4) AS share "
        f"FROM {{table}} r WHERE _month = {{month}} GROUP BY {c} ORDER BY rows DESC LIMIT {SAMPLE_LIMIT}"
    )


HOURS = "epoch(r.released_at - r.lodged_at) / 3600.0"


def _release_time(feed: Feed) -> list[Metric]:
    """Share released and hours from lodgement to release."""
    feed.column("released_at"), feed.column("lodged_at")  # fail loudly if the contract changes
    released = "r.released_at IS NOT NULL"
    by_hours = "epoch(released_at - lodged_at) DESC"
    return [
        Metric(
            "released_share",
            "batch",
            "share of the month's declarations that are released",
            0,
            1,
            f"avg(({released})::DOUBLE)",
            _rows_where(feed, "released_at IS NULL", ["lodged_at", "released_at"]),
        ),
        Metric(
            "release_hours_median",
            "batch",
            "median hours from lodgement to release (released declarations)",
            0,
            None,
            f"median({HOURS}) FILTER (WHERE {released})",
            _rows_where(feed, "released_at IS NOT NULL", ["lodged_at", "released_at"], by_hours),
        ),
        Metric(
            "release_hours_p95",
            "batch",
            "95th percentile of hours from lodgement to release (released declarations)",
            0,
            None,
            f"quantile_cont({HOURS}, 0.95) FILTER (WHERE {released})",
            _rows_where(feed, "released_at IS NOT NULL", ["lodged_at", "released_at"], by_hours),
        ),
    ]


def _lane_shares(feed: Feed) -> list[Metric]:
    """The share of each lane among the month's lane rows."""
    lane = feed.column("lane")
    return [
        Metric(
            f"lane_share__{code}",
            "batch",
            f"share of the month's lane rows that are {code}",
            0,
            1,
            f"avg((r.lane = {lit(code)})::DOUBLE)",
            _share_sample("lane"),
        )
        for code in lane.codes
    ]


def _declaration_coverage(feed: Feed) -> list[Metric]:
    """The share of the month's rows whose declaration is loaded."""
    in_declarations = "declaration_id IN (SELECT declaration_id FROM raw.declarations)"
    return [
        Metric(
            "declaration_coverage",
            "batch",
            "share of the month's lane rows whose declaration is loaded (any month)",
            0,
            1,
            f"avg((r.{in_declarations})::DOUBLE)",
            _rows_where(feed, f"NOT ({in_declarations})", ["lane", "assigned_at"]),
        )
    ]


@dataclass(frozen=True)
class MetricGroup:
    build: Callable[[Feed], list[Metric]]
    # feeds whose raw table the metrics read: the feed's check waits for their load
    reads: tuple[str, ...] = ()


# The distribution and coverage metrics a feed can declare (`Feed.quality_metrics`): domain knowledge.
METRIC_GROUPS: dict[str, MetricGroup] = {
    "release_time": MetricGroup(_release_time),
    "lane_shares": MetricGroup(_lane_shares),
    "declaration_coverage": MetricGroup(_declaration_coverage, reads=("declarations",)),
}


def metric_group(feed: Feed, name: str) -> MetricGroup:
    if name not in METRIC_GROUPS:
        raise KeyError(
            f"feed {feed.name} declares quality metrics {name!r}; known: {', '.join(METRIC_GROUPS)}"
        )
    return METRIC_GROUPS[name]


def distribution_metrics(feed: Feed) -> list[Metric]:
    """Distribution sanity and referential coverage: the groups the feed declares, in its order."""
    return [m for name in feed.quality_metrics for m in metric_group(feed, name).build(feed)]


def reads_feeds(feed: Feed) -> tuple[str, ...]:
    """Other feeds whose raw table the feed's quality suite reads."""
    return tuple(
        dict.fromkeys(f for name in feed.quality_metrics for f in metric_group(feed, name).reads)
    )


def batch_metrics(feed: Feed) -> list[Metric]:
    metrics = [
        Metric("row_count", "batch", "rows accepted for the month", 0, None, "count(*)", None),
        Metric(
            "row_count_ratio",
            "batch",
            "rows accepted relative to the median of the previous loaded months (not checked without "
            "history, nor while that median is below meta.min_history_rows rows)",
            0,
            None,
            None,
            None,
        ),
        Metric(
            "reject_share", "batch", "share of the rows read that were rejected", 0, 1, None, None
        ),
    ]
    for col in feed.columns:
        if not col.required:
            metrics.append(
                Metric(
                    f"{col.name}__null_share",
                    "batch",
                    f"share of accepted rows with `{col.name}` empty",
                    0,
                    1,
                    f"avg((r.{q(col.name)} IS NULL)::DOUBLE)",
                    None,
                )
            )
    return metrics + distribution_metrics(feed)


def feed_metrics(
    feed: Feed, tz: str = "UTC", code_sets: dict[str, frozenset[str]] | None = None
) -> list[Metric]:
    """Every metric of a feed, column-level first (contract order), then batch-level."""
    metrics = column_metrics(feed, tz, code_sets) + batch_metrics(feed)
    names = [m.name for m in metrics]
    if len(names) != len(set(names)):
        raise ValueError(f"duplicate metric names for feed {feed.name}: {names}")
    return metrics
