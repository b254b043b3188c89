"""The suite files in expectations/ are what the feed contract renders (thresholds excepted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from dagster_project.contract import FEEDS, Column, Feed, feed_by_name
from dagster_project.quality.metrics import feed_metrics
from dagster_project.quality.suites import (
    check_thresholds,
    main,
    read_suite,
    render_suite,
    suite_path,
    suite_text,
    write_suites,
)
from dagster_project.settings import EXPECTATIONS_DIR, PROJECT_ROOT
from tests.conftest import make_settings


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.name)
def test_committed_suite_is_what_the_contract_renders(feed):
    committed = suite_path(feed).read_text(encoding="utf-8")
    rendered = suite_text(render_suite(feed, json.loads(committed)))
    assert committed == rendered, (
        f"expectations/{feed.name}.json has drifted from the contract: "
        "run `.venv/bin/python -m dagster_project.quality.suites` and commit the result"
    )


def test_generator_check_mode_reports_no_difference():
    assert main(["--check"]) == 0


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.name)
def test_every_threshold_is_usable_and_set(feed):
    suite = read_suite(feed)
    assert check_thresholds(suite) == []
    for exp in suite["expectations"]:
        assert exp["type"] == "expect_column_values_to_be_between"
        kw, meta = exp["kwargs"], exp["meta"]
        if meta["level"] == "column":
            assert (kw["min_value"], kw["max_value"]) == (0, 0), kw
    batch = {
        e["kwargs"]["column"]: e["kwargs"]
        for e in suite["expectations"]
        if e["meta"]["level"] == "batch"
    }
    assert batch["row_count"]["min_value"] == 1
    assert (batch["row_count_ratio"]["min_value"], batch["row_count_ratio"]["max_value"]) == (
        0.5,
        2.0,
    )
    assert batch["reject_share"]["max_value"] < 1


def test_contract_rules_become_column_expectations():
    names = {m.name for m in feed_metrics(feed_by_name("declarations"))}
    # required -> not null; codes -> in set; int range; pattern; country; row rule; anchor; key
    assert {
        "declaration_id__nulls",
        "declaration_type__not_in_set",
        "category__out_of_range",
        "hs_code__pattern",
        "partner_country__not_in_set",
        "customs_value__out_of_range",
        "released_at__not_before_lodged_at",
        "lodged_at__outside_month",
        "declaration_id__duplicates",
    } <= names
    # batch level: optional columns' null shares, distributions
    assert {
        "row_count",
        "row_count_ratio",
        "reject_share",
        "duty_amount__null_share",
        "released_share",
        "release_hours_median",
        "release_hours_p95",
    } <= names
    lanes = {m.name for m in feed_metrics(feed_by_name("lanes"))}
    assert {"lane_share__GREEN", "lane_share__BLUE", "declaration_coverage"} <= lanes
    drawback = {m.name for m in feed_metrics(feed_by_name("drawback"))}
    assert {
        "amount_approved__not_above_amount_claimed",
        "decided_at__required_unless_status",
    } <= drawback


def test_regenerating_keeps_hand_set_thresholds_and_resets_the_rest(tmp_path):
    for feed in FEEDS:
        (tmp_path / f"{feed.name}.json").write_text(
            suite_path(feed).read_text(encoding="utf-8"), encoding="utf-8"
        )
    path = tmp_path / "declarations.json"
    suite = json.loads(path.read_text())
    for exp in suite["expectations"]:
        kw = exp["kwargs"]
        if kw["column"] == "reject_share":
            kw["max_value"] = 0.123
        if kw["column"] == "row_count_ratio":
            exp["meta"]["history_months"] = 3
        if kw["column"] == "declaration_id__nulls":
            kw["max_value"] = 5  # not a threshold: the contract says 0
        if kw["column"] == "hs_code__pattern":
            exp["description"] = "edited by hand"
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "gone", "max_value": 1},
            "meta": {"level": "batch"},
        }
    )
    path.write_text(json.dumps(suite, indent=2))

    changed = write_suites(tmp_path)
    assert changed == [path]
    regenerated = {e["kwargs"]["column"]: e for e in json.loads(path.read_text())["expectations"]}
    assert regenerated["reject_share"]["kwargs"]["max_value"] == 0.123
    assert regenerated["row_count_ratio"]["meta"]["history_months"] == 3
    assert regenerated["declaration_id__nulls"]["kwargs"]["max_value"] == 0
    assert regenerated["hs_code__pattern"]["description"] == "`hs_code` matches 6-10 digits"
    assert "gone" not in regenerated
    assert write_suites(tmp_path) == []  # idempotent


def test_new_contract_column_gets_expectations_with_open_thresholds():
    feed = feed_by_name("tickets")
    extended = Feed(
        **{
            **feed.__dict__,
            "columns": feed.columns
            + (Column("priority", "code", False, "urgency", codes=("P1", "P2")),),
        }
    )
    rendered = render_suite(extended, read_suite(feed))
    by_name = {e["kwargs"]["column"]: e for e in rendered["expectations"]}
    assert by_name["priority__not_in_set"]["kwargs"] == {
        "column": "priority__not_in_set",
        "min_value": 0,
        "max_value": 0,
    }
    # a new batch metric starts with its natural domain until someone sets a threshold
    assert by_name["priority__null_share"]["kwargs"] == {
        "column": "priority__null_share",
        "min_value": 0,
        "max_value": 1,
    }
    # thresholds of existing expectations survive
    assert (
        by_name["reject_share"]["kwargs"]["max_value"]
        == read_suite(feed)["expectations"][
            [e["kwargs"]["column"] for e in read_suite(feed)["expectations"]].index("reject_share")
        ]["kwargs"]["max_value"]
    )


def test_a_new_feeds_suite_starts_with_the_bounds_every_feed_has():
    feed = replace(feed_by_name("tickets"), name="permits_test")
    rendered = render_suite(feed, None)
    assert check_thresholds(rendered) == []
    by_name = {e["kwargs"]["column"]: e["kwargs"] for e in rendered["expectations"]}
    assert (by_name["row_count"]["min_value"], by_name["row_count"]["max_value"]) == (1, None)
    assert (by_name["row_count_ratio"]["min_value"], by_name["row_count_ratio"]["max_value"]) == (
        0.5,
        2.0,
    )
    assert by_name["reject_share"]["max_value"] == 0.1
    assert by_name["due_at__null_share"]["max_value"] == 1  # the rest: natural domain


def test_suites_load_into_great_expectations():
    import great_expectations as gx

    for feed in FEEDS:
        data = read_suite(feed)
        suite = gx.ExpectationSuite(
            name=data["name"], expectations=data["expectations"], meta=data["meta"]
        )
        assert len(suite.expectations) == len(data["expectations"])
    assert EXPECTATIONS_DIR.name == "expectations"


def test_a_run_pyspark_would_end_fails_its_checks_with_a_clear_error(tmp_path):
    """pyspark ends a process whose __main__ has no file (`python -c`) when Great Expectations
    imports it: the run's checks fail saying so, not with SystemExit's bare "0"."""
    pytest.importorskip("pyspark")  # the spark extra, which `make install` always installs
    settings = make_settings(tmp_path / "data")
    for feed in (PROJECT_ROOT / "data" / "raw").iterdir():
        if (feed / "2024-01").is_dir():
            shutil.copytree(feed / "2024-01", settings.raw_dir / feed.name / "2024-01")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagster_project.cli import main\nraise SystemExit(main(['run']))",
        ],
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (
        "error: raw__declarations_quality: Great Expectations could not be imported: pyspark"
        in proc.stderr
    ), proc.stderr[-3000:]
