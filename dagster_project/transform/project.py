"""The dbt project handle and its manifest."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_DIR
from dagster_project.transform.child import DBT_CHILD

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


def dbt_project(target_path: Path = Path("target")) -> DbtProject:
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=target_path)


def parse_env(work_db: Path) -> dict[str, str]:
    """What the dbt profile needs to parse the project: the work database's path (`dbt parse`
    never opens it). `customs-kpi dev` hands this to `dagster dev`, whose code-location loads
    parse the project through `DbtProject.prepare_if_dev()`."""
    return {"CUSTOMS_KPI_WORK_DB": str(work_db)}


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
    if not manifest_is_stale():
        return MANIFEST
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    # one parse at a time: parallel test workers, or a run started beside the UI, share dbt/target
    with open(TARGET_DIR / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale():
            env_default = parse_env(TARGET_DIR / "parse-only.duckdb")
            run_dbt(["parse", "--quiet"], {**env_default, **os.environ})
    return MANIFEST


def run_dbt(args: list[str], env: dict[str, str], *, target_path: Path = TARGET_DIR) -> None:
    """One dbt command outside a Dagster step's event stream (parse, docs, the DuckDB shells of a
    Spark run), through `customs-kpi-dbt` so that it ends with this process; a failure raises
    with the end of dbt's output."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name(DBT_CHILD)),
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(target_path),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        )
