"""The Dagster instance (DAGSTER_HOME) the CLI, the UI and the tests share."""

from __future__ import annotations

import os
from pathlib import Path

from dagster_project.settings import Settings

# One run at a time: every run writes the same DuckDB work file.
DAGSTER_YAML = """\
# Written by customs-kpi. Runs and event logs live in this folder (SQLite).
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' folder and give it a dagster.yaml if it has none."""
    home = settings.dagster_home_dir
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
