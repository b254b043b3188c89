"""Shared fixtures: an isolated data dir and Dagster home per test session or test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dagster_project.settings import Settings


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


# One real publish watched by read-only BI clients, shared by the analyst-facing tests (tests/bi_world.py).
from tests.bi_world import bi_world  # noqa: E402,F401
