"""The dbt project handle and its manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_DIR

TARGET_DIR = DBT_DIR / "target"
MANIFEST = TARGET_DIR / "manifest.json"
PARSE_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "macros",
    "seeds",
    "tests",
    "snapshots",
    "analyses",
)


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=Path("target"))


def _newest_input_mtime() -> float:
    newest = 0.0
    for name in PARSE_INPUTS:
        p = DBT_DIR / name
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
        elif p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
    return newest


def manifest_is_stale() -> bool:
    return not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_input_mtime()


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than its sources.

    `dbt parse` needs no database connection, only a resolvable profile, so a
    placeholder work-database path is enough here.
    """
    if manifest_is_stale():
        dbt = Path(sys.executable).with_name("dbt")
        env_default = {"CUSTOMS_KPI_WORK_DB": str(DBT_DIR / "target" / "parse-only.duckdb")}
        env = {**env_default, **os.environ}
        proc = subprocess.run(
            [
                str(dbt),
                "parse",
                "--quiet",
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(TARGET_DIR),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return MANIFEST
