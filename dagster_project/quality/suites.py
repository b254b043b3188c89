"""The Great Expectations suites in `expectations/<feed>.json`, rendered from the feed contract.

    python -m dagster_project.quality.suites            # (re)write every suite file
    python -m dagster_project.quality.suites --check    # exit 1 if a file differs from the contract

Everything in a suite file is generated from `metrics.py` (hence from the
contract) except the thresholds of the batch-level expectations: their
`min_value` / `max_value` (and, for the row-count band, `meta.history_months`)
are read back from the existing file and kept, so an operator tunes them in
the file and regenerating never loses the change. A new feed's suite starts
with the bounds every feed has (`NEW_FEED_THRESHOLDS`: at least one row, the
row-count band, a rejected share of at most 10 %); any other new batch
expectation starts with its metric's natural domain (no constraint) until a
threshold is set. Column-level expectations (0 offending rows) are not thresholds: they are
rewritten from the contract every time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dagster_project.contract import FEEDS, Feed
from dagster_project.quality.metrics import feed_metrics
from dagster_project.settings import EXPECTATIONS_DIR

EXPECTATION_TYPE = "expect_column_values_to_be_between"
THRESHOLD_KWARGS = ("min_value", "max_value")
THRESHOLD_META = ("history_months", "min_history_rows")
DEFAULT_HISTORY_MONTHS = 6  # definition of the row-count band until the suite file says otherwise
# Below this median of the recent months a ratio band is noise (2 rows against 4): the band is not
# checked, and only the absolute bounds (row_count >= 1) hold. Editable per feed in the suite file.
DEFAULT_MIN_HISTORY_ROWS = 50
# (min_value, max_value) of the batch expectations every feed has, where its suite file has none
# yet (a new feed): the bounds of every feed's suite; the rejected share that of most of them.
NEW_FEED_THRESHOLDS: dict[str, tuple[float | None, float | None]] = {
    "row_count": (1, None),
    "row_count_ratio": (0.5, 2.0),
    "reject_share": (0, 0.1),
}


def suite_path(feed: Feed, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{feed.name}.json"


def read_suite(feed: Feed, directory: Path = EXPECTATIONS_DIR) -> dict[str, Any] | None:
    path = suite_path(feed, directory)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _kept_thresholds(existing: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    kept: dict[str, dict[str, Any]] = {}
    for exp in (existing or {}).get("expectations", []):
        meta = exp.get("meta", {})
        if meta.get("level") != "batch":
            continue
        kwargs = exp.get("kwargs", {})
        values = {k: kwargs.get(k) for k in THRESHOLD_KWARGS}
        values.update({k: meta[k] for k in THRESHOLD_META if k in meta})
        kept[meta.get("metric") or kwargs.get("column")] = values
    return kept


def render_suite(feed: Feed, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The suite of a feed as a JSON-able dict (GX 1.x ExpectationSuite fields, no ids)."""
    kept = _kept_thresholds(existing)
    expectations = []
    for metric in feed_metrics(feed):
        kwargs: dict[str, Any] = {
            "column": metric.name,
            "min_value": metric.lower,
            "max_value": metric.upper,
        }
        meta: dict[str, Any] = {"metric": metric.name, "level": metric.level}
        if metric.level == "column":
            meta["contract"] = metric.contract
        else:
            if metric.name == "row_count_ratio":
                meta["history_months"] = DEFAULT_HISTORY_MONTHS
                meta["min_history_rows"] = DEFAULT_MIN_HISTORY_ROWS
            if metric.name in NEW_FEED_THRESHOLDS:
                kwargs["min_value"], kwargs["max_value"] = NEW_FEED_THRESHOLDS[metric.name]
            previous = kept.get(metric.name)
            if previous is not None:
                kwargs.update({k: previous.get(k) for k in THRESHOLD_KWARGS})
                meta.update({k: previous[k] for k in THRESHOLD_META if k in previous and k in meta})
        expectations.append(
            {
                "type": EXPECTATION_TYPE,
                "kwargs": kwargs,
                "meta": meta,
                "description": metric.description,
            }
        )
    return {
        "name": feed.name,
        "meta": {
            "feed": feed.name,
            "generated_by": "python -m dagster_project.quality.suites (thresholds of batch expectations are kept)",
            "evaluated_on": "one row per feed-month of metrics computed in DuckDB (dagster_project/quality/compute.py)",
        },
        "expectations": expectations,
    }


def suite_text(suite: dict[str, Any]) -> str:
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def check_thresholds(suite: dict[str, Any]) -> list[str]:
    """Problems with a suite's thresholds (a between expectation needs at least one bound)."""
    problems = []
    for exp in suite["expectations"]:
        kw = exp["kwargs"]
        if kw.get("min_value") is None and kw.get("max_value") is None:
            problems.append(
                f"{suite['name']}: {kw['column']}: min_value and max_value are both null"
            )
        elif (
            kw.get("min_value") is not None
            and kw.get("max_value") is not None
            and kw["min_value"] > kw["max_value"]
        ):
            problems.append(f"{suite['name']}: {kw['column']}: min_value is above max_value")
    return problems


def write_suites(directory: Path = EXPECTATIONS_DIR, *, check: bool = False) -> list[Path]:
    """Render every feed's suite; write it (or, with check, only report files that differ)."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for feed in FEEDS:
        path = suite_path(feed, directory)
        existing = read_suite(feed, directory)
        rendered = render_suite(feed, existing)
        problems = check_thresholds(rendered)
        if problems:
            raise ValueError("; ".join(problems))
        text = suite_text(rendered)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            changed.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report suite files that differ")
    parser.add_argument("--dir", type=Path, default=EXPECTATIONS_DIR)
    args = parser.parse_args(argv)
    changed = write_suites(args.dir, check=args.check)
    for path in changed:
        print(f"{'differs' if args.check else 'wrote'}: {path}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
