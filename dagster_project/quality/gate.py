"""One feed's quality gate for the months of a run: metrics, suite, results, ledger.

Plain Python (no Dagster) so that tests and the asset check share it:
`run_gate` computes the metrics in DuckDB, evaluates the suite with Great
Expectations, records 'passed' / 'failed' / 'overridden' per feed-month in
`raw.load_audit`. A failed month is withheld by the dbt build that follows
(`ledger.gate_states`), never a stop for the rest of the run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from dagster_project.contract import Feed
from dagster_project.contract.catalog import code_sets
from dagster_project.publish.pseudonym import MissingSecret, resolve_secret
from dagster_project.quality.compute import metrics_frame, sample_rows
from dagster_project.quality.ledger import (
    ensure_quality_schema,
    mark_released,
    months_to_check,
    record_result,
    standing_override,
)
from dagster_project.quality.metrics import feed_metrics
from dagster_project.quality.suites import (
    DEFAULT_HISTORY_MONTHS,
    DEFAULT_MIN_HISTORY_ROWS,
    read_suite,
)
from dagster_project.quality.validate import Finding, prune_docs, validate_frame
from dagster_project.runtime import naming_path
from dagster_project.settings import Settings
from dagster_project.warehouse.db import work_db


# The run whose Data Docs show each feed-month's latest check: the docs behind months that passed
# (published, or waiting for the next publish) are kept however old.
DOCS_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS meta.quality_docs (
    feed VARCHAR NOT NULL,
    month DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (feed, month)
)
"""


def docs_in_use(con) -> set[str]:
    """Runs whose Data Docs show the latest check of a feed-month that passed (or was overridden)."""
    con.execute(DOCS_RUNS_DDL)
    rows = con.execute(
        "SELECT DISTINCT d.run_id FROM meta.quality_docs d JOIN ("
        "  SELECT feed, month FROM raw.load_audit GROUP BY feed, month"
        "  HAVING bool_and(quality_result IN ('passed', 'overridden'))"
        ") a ON a.feed = d.feed AND a.month = d.month"
    ).fetchall()
    return {r[0] for r in rows}


@dataclass
class MonthResult:
    month: date
    result: str  # passed | failed | overridden
    note: str
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth a look, never a failure


@dataclass
class GateOutcome:
    feed: str
    months: list[MonthResult]
    evaluated: int  # expectations in the suite
    docs_index: Path | None = None
    docs_page: str | None = None

    @property
    def passed(self) -> bool:
        return all(m.result != "failed" for m in self.months)

    @property
    def failed_months(self) -> list[MonthResult]:
        return [m for m in self.months if m.result == "failed"]

    def messages(self) -> list[str]:
        """One line per failed feed-month: which expectations, observed vs expected."""
        return [f"{self.feed} {m.month:%Y-%m}: {m.note}" for m in self.failed_months]

    def warnings(self) -> list[str]:
        return [f"{self.feed} {m.month:%Y-%m}: {w}" for m in self.months for w in m.warnings]


def missing_manual_kpis(
    con, feed: Feed, months: list[date], expected: frozenset[str]
) -> dict[date, list[str]]:
    """Per month, the manual KPIs of the catalog the month's manual delivery does not carry.

    A handful of rows a month is too few for a statistical band: the catalog says what to expect,
    and what is missing is named in a warning."""
    rows = con.execute(
        f"SELECT _month, list(DISTINCT {feed.key}) FROM {feed.raw_table} "
        "WHERE _month IN (SELECT unnest(?::DATE[])) GROUP BY 1",
        [months],
    ).fetchall()
    delivered = {m: set(ids) for m, ids in rows}
    return {m: sorted(expected - delivered.get(m, set())) for m in months}


def quality_dir(settings: Settings) -> Path:
    return settings.marts_dir / "quality"


def sample_key(settings: Settings) -> str | None:
    """The pseudonym key for trader ids in samples; None (ids blanked) where none may be used."""
    try:
        return resolve_secret(settings)[0]
    except MissingSecret:
        return None


def _ratio_meta(suite: dict) -> tuple[int, float]:
    """(history_months, min_history_rows) of the row-count band in the suite file."""
    for exp in suite["expectations"]:
        if exp["kwargs"]["column"] == "row_count_ratio":
            meta = exp.get("meta", {})
            return (
                int(meta.get("history_months", DEFAULT_HISTORY_MONTHS)),
                float(meta.get("min_history_rows", DEFAULT_MIN_HISTORY_ROWS)),
            )
    return DEFAULT_HISTORY_MONTHS, DEFAULT_MIN_HISTORY_ROWS


def _failure_note(findings: list[Finding]) -> str:
    return "quality suite failed: " + "; ".join(f.text() for f in findings)


def run_gate(
    settings: Settings,
    feed: Feed,
    run_months: list[date],
    *,
    run_id: str,
    secret: str | None = None,
    data_docs: bool = True,
) -> GateOutcome:
    suite = read_suite(feed)
    if suite is None:
        raise FileNotFoundError(
            f"no suite for feed {feed.name}: run `python -m dagster_project.quality.suites` to write expectations/"
        )
    history, min_history_rows = _ratio_meta(suite)
    if secret is None:
        secret = sample_key(settings)
    sets = code_sets()
    metrics = {m.name: m for m in feed_metrics(feed, settings.tz, sets)}
    docs_dir = quality_dir(settings) / run_id if data_docs else None
    with work_db(settings) as con:
        ensure_quality_schema(con)
        months = months_to_check(con, feed, run_months)
        if not months:
            return GateOutcome(feed.name, [], len(suite["expectations"]))
        frame = metrics_frame(
            con,
            feed,
            months,
            tz=settings.tz,
            code_sets=sets,
            history_months=history,
            min_history_rows=min_history_rows,
        )
        with naming_path(docs_dir or quality_dir(settings)):
            validation = validate_frame(feed, frame, suite, run_name=run_id, docs_dir=docs_dir)
        by_month: dict[date, list[Finding]] = defaultdict(list)
        for finding in validation.findings:
            by_month[finding.month].append(finding)
        missing = (
            missing_manual_kpis(con, feed, months, sets["manual_kpis"])
            if feed.kind == "manual"
            else {}
        )
        before = dict(
            con.execute(
                "SELECT month, any_value(quality_result) FROM raw.load_audit WHERE feed = ? GROUP BY month",
                [feed.name],
            ).fetchall()
        )
        checked_at = datetime.now(timezone.utc).replace(tzinfo=None)
        results: list[MonthResult] = []
        con.execute("BEGIN TRANSACTION")
        try:
            for month in months:
                findings = by_month.get(month, [])
                for f in findings:
                    metric = metrics.get(f.metric)
                    if metric is not None and not f.error:
                        f.sample = sample_rows(con, feed, metric, month, history, secret)
                if not findings:
                    result, note = "passed", f"passed ({validation.evaluated} expectations)"
                else:
                    override = standing_override(con, feed.name, month)
                    if override is not None:
                        result, note = (
                            "overridden",
                            f"{override.note()} | {_failure_note(findings)}",
                        )
                    else:
                        result, note = "failed", _failure_note(findings)
                warnings = (
                    [f"manual KPIs of the catalog missing: {', '.join(missing[month])}"]
                    if missing.get(month)
                    else []
                )
                if warnings:
                    note = f"{note}; warning: {warnings[0]}"
                record_result(con, feed.name, month, result, note)
                if (
                    before.get(month) == "failed" and result != "failed"
                ):  # no longer withheld: rebuild it
                    mark_released(con, feed.name, month, checked_at)
                results.append(MonthResult(month, result, note, findings, warnings))
            if data_docs:
                con.execute(DOCS_RUNS_DDL)
                con.executemany(
                    "INSERT OR REPLACE INTO meta.quality_docs VALUES (?, ?, ?)",
                    [[feed.name, m, run_id] for m in months],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        keep_docs = docs_in_use(con) | {run_id} if data_docs else set()
    outcome = GateOutcome(
        feed.name, results, validation.evaluated, validation.docs_index, validation.docs_page
    )
    if data_docs:
        prune_docs(quality_dir(settings), settings.keep_quality_runs, keep_docs)
    return outcome
