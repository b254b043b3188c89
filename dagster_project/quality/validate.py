"""Great Expectations on the metrics frame: an ephemeral context, the suite file, Data Docs.

The frame is small (one row per feed-month, one column per metric), so GX's
pandas execution engine evaluates it in milliseconds. Each failed expectation
comes back with the months (`unexpected_index_list`) and the values that
broke it; `Finding` turns that into observed value vs threshold.

Data Docs: a GX site per Dagster run under `<data dir>/marts/quality/<run>/`;
the checks of one run share one in-memory context, so the site's index lists
every feed validated in the run.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from dagster_project.contract import Feed
from dagster_project.months import parse_month

SITE_NAME = "quality"

_lock = threading.Lock()
_contexts: dict[str, Any] = {}


@dataclass
class Finding:
    """One expectation that failed for one feed-month."""

    feed: str
    month: date
    metric: str
    level: str
    description: str
    observed: float | None
    min_value: float | None
    max_value: float | None
    error: str | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> str:
        lo, hi = self.min_value, self.max_value
        if lo is not None and hi is not None:
            return f"{_fmt(lo)}" if lo == hi else f"between {_fmt(lo)} and {_fmt(hi)}"
        return f"at least {_fmt(lo)}" if lo is not None else f"at most {_fmt(hi)}"

    def text(self) -> str:
        if self.error:
            return f"{self.metric}: could not be evaluated ({self.error})"
        extra = ""
        if self.metric == "row_count_ratio" and self.context.get("history_median") is not None:
            extra = (
                f" [{int(self.context.get('row_count') or 0)} rows vs median {_fmt(self.context['history_median'])}"
                f" of {int(self.context.get('history_months_used') or 0)} earlier month(s)]"
            )
        return f"{self.metric} = {_fmt(self.observed)}, expected {self.expected}{extra}"

    def as_json(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "month": f"{self.month:%Y-%m}",
            "expectation": self.metric,
            "level": self.level,
            "description": self.description,
            "observed": self.observed,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "error": self.error,
            "sample": self.sample,
        }


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.4g}"


@dataclass
class Validation:
    feed: str
    success: bool
    evaluated: int
    findings: list[Finding]
    docs_index: Path | None = None
    docs_page: str | None = None


def import_great_expectations():
    """The `great_expectations` module. With the `spark` extra installed, Great Expectations
    imports pyspark, which ends the process (`sys.exit(0)`, after "Skipping doctests") when its
    `__main__` has no file: it takes `python -c` or a script read from stdin for a doctest run.
    A quality check would then fail with the bare message "0"; here it says what happened."""
    try:
        import great_expectations
    except SystemExit:
        raise RuntimeError(
            "Great Expectations could not be imported: pyspark (installed with the spark extra) "
            "ends a Python process whose __main__ has no file, as under `python -c` or a script "
            "read from stdin; run `customs-kpi`, `python -m ...` or a script file instead"
        ) from None  # the run's error names the root cause: SystemExit's "0" would hide this
    return great_expectations


def _context(run_name: str, docs_dir: Path | None):
    """One ephemeral GX context per run (cached), with a Data Docs site in docs_dir."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from dagster_project.quality.docs_views import site_views

    key = f"{run_name}|{docs_dir}"
    with _lock:
        ctx = _contexts.get(key)
        if ctx is None:
            logging.getLogger("great_expectations").setLevel(logging.ERROR)
            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            if docs_dir is not None:
                page_view, index_view = site_views()  # GX's views, templates compiled once
                ctx.add_data_docs_site(
                    site_name=SITE_NAME,
                    site_config={
                        "class_name": "SiteBuilder",
                        "store_backend": {
                            "class_name": "TupleFilesystemStoreBackend",
                            "base_directory": str(docs_dir),
                        },
                        "site_section_builders": {
                            section: {"view": page_view}
                            for section in ("expectations", "validations", "profiling")
                        },
                        "site_index_builder": {
                            "class_name": "DefaultSiteIndexBuilder",
                            "view": index_view,
                        },
                    },
                )
            ctx.data_sources.add_pandas("metrics")
            _contexts.clear()  # one run at a time: forget earlier runs' contexts
            _contexts[key] = ctx
        return ctx


def _suite(gx, suite_dict: dict[str, Any]):
    return gx.ExpectationSuite(
        name=suite_dict["name"],
        expectations=suite_dict["expectations"],
        meta=suite_dict.get("meta", {}),
    )


def validate_frame(
    feed: Feed,
    frame: pd.DataFrame,
    suite_dict: dict[str, Any],
    *,
    run_name: str,
    docs_dir: Path | None,
) -> Validation:
    """Run the feed's suite on its metrics frame; findings per failed expectation and month."""
    gx = import_great_expectations()
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = _context(run_name, docs_dir)
    with _lock:
        source = ctx.data_sources.get("metrics")
        asset_names = {a.name for a in source.assets}
        if feed.name in asset_names:
            source.delete_asset(feed.name)
        asset = source.add_dataframe_asset(feed.name)
        batch = asset.add_batch_definition_whole_dataframe("months_checked")
        existing = {s.name for s in ctx.suites.all()}
        if suite_dict["name"] in existing:
            ctx.suites.delete(suite_dict["name"])
        suite = ctx.suites.add(_suite(gx, suite_dict))
        # a feed checked twice in one run (a test, a re-executed step) replaces its definitions
        for store in (ctx.checkpoints, ctx.validation_definitions):
            try:
                store.delete(feed.name)
            except Exception:  # not there yet: GX raises its own not-found errors
                pass
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=feed.name, data=batch, suite=suite)
        )
        actions = (
            [UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])]
            if docs_dir is not None
            else []
        )
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(
                name=feed.name,
                validation_definitions=[definition],
                actions=actions,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": ["month"],
                },
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
        )
    ((identifier, run_result),) = result.run_results.items()
    findings: list[Finding] = []
    by_metric = {e["kwargs"]["column"]: e for e in suite_dict["expectations"]}
    months_all = list(frame["month"])
    for r in run_result.results:
        if r.success:
            continue
        column = r.expectation_config.kwargs["column"]
        exp = by_metric.get(column, {})
        meta = exp.get("meta", {})
        kwargs = exp.get("kwargs", {})
        base = dict(
            feed=feed.name,
            metric=column,
            level=meta.get("level", ""),
            description=exp.get("description", ""),
            min_value=kwargs.get("min_value"),
            max_value=kwargs.get("max_value"),
        )
        raised = (r.exception_info or {}).get("raised_exception")
        if raised:
            message = str((r.exception_info or {}).get("exception_message") or "exception")
            findings += [
                Finding(month=parse_month(m), observed=None, error=message.splitlines()[0], **base)
                for m in months_all
            ]
            continue
        for item in (r.result or {}).get("unexpected_index_list") or []:
            month = parse_month(item["month"])
            row = frame.loc[frame["month"] == item["month"]].iloc[0]
            findings.append(
                Finding(month=month, observed=item.get(column), context=row.to_dict(), **base)
            )
    docs_index = docs_page = None
    if docs_dir is not None:
        docs_index = docs_dir / "index.html"
        for site in ctx.get_docs_sites_urls(resource_identifier=identifier, site_names=[SITE_NAME]):
            docs_page = site.get("site_url")
    evaluated = len(run_result.results)
    return Validation(feed.name, run_result.success, evaluated, findings, docs_index, docs_page)


def prune_docs(quality_dir: Path, keep: int, also_keep: set[str] = frozenset()) -> list[Path]:
    """Keep the Data Docs of the newest `keep` runs and of the runs named in `also_keep`;
    returns the folders removed."""
    if not quality_dir.is_dir():
        return []
    runs = sorted(
        (p for p in quality_dir.iterdir() if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = [old for old in runs[keep:] if old.name not in also_keep]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed
