"""Shared fixtures: an isolated data dir and Dagster home per test session or test."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from dagster_project.settings import Settings


# pyspark 4.2 takes a process whose __main__ has neither a file nor a spec for a doctest run and
# exits (pyspark.sql.connect.utils.check_dependencies, reached through Great Expectations' import
# of pyspark): pytest-xdist's workers are such processes. Give the worker's __main__ a name.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"


# The project's command in this interpreter's environment (.venv/bin/customs-kpi), whatever the PATH.
CLI = Path(sys.executable).with_name("customs-kpi")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """Parse the dbt project once, before anything loads the Dagster definitions."""
    from dagster_project.transform.project import ensure_manifest

    return ensure_manifest()


def make_settings(data_dir: Path, **overrides) -> Settings:
    env = {
        "CUSTOMS_KPI_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
        "CUSTOMS_KPI_SECRET": "test-secret",
        "CUSTOMS_KPI_THREADS": "2",
    }
    env.update(overrides)
    return Settings.from_env(env)


# The groups that take minutes (measured with --durations), longest first: the workers start
# with them, so that no long group is left to run alone at the end.
LONG_GROUPS = (
    "tests.test_spark_engine",
    "tests.test_withheld",
    "tests.test_bench",
    "tests.test_crash_safety",
    "tests.test_corpus",
    "tests.test_pipeline",
    "bi_world",
    "tests.test_run_safety",
    "tests.test_deliveries",
    "tests.test_operations",
    "tests.test_explain",
)


def xdist_group_of(item) -> str:
    """The module, or `bi_world` for the tests sharing the session's BI world."""
    return "bi_world" if "bi_world" in getattr(item, "fixturenames", ()) else item.module.__name__


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """`make test` runs the tests in parallel workers (pytest-xdist, `--dist loadgroup
    --no-loadscope-reorder`): each module stays on one worker, so that its module-scoped world is
    built once, and the tests sharing the session's BI world (tests/bi_world.py) stay together
    on one worker for the same reason. The long groups go first (LONG_GROUPS)."""
    rank = {group: i for i, group in enumerate(LONG_GROUPS)}
    items.sort(key=lambda item: rank.get(xdist_group_of(item), len(rank)))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))


# One real publish watched by read-only BI clients, shared by the analyst-facing tests (tests/bi_world.py).
from tests.bi_world import bi_world  # noqa: E402,F401
