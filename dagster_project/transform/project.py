"""The dbt project handle and its manifest."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_DIR
from dagster_project.transform.child import DBT_CHILD, DBT_CWD_ENV

TARGET_DIR = DBT_DIR / "target"
PARTIAL_PARSE = "partial_parse.msgpack"
# The partial parse of the last build per dbt environment, shared by the data dirs of a checkout.
PARSE_CACHE_DIR = TARGET_DIR / "partial-parse"
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


class CustomsDbtProject(DbtProject):
    """The project, parsed the way `ensure_manifest` does, under its lock: under `dagster dev`,
    every code-location load re-parses (an edited model shows on "Reload definitions") without
    racing a `customs-kpi run` that parses into the same folder. dagster-dbt's own preparer
    runs `dbt parse` outside that lock."""

    def prepare_if_dev(self) -> None:
        if self.preparer.using_dagster_dev():
            ensure_manifest(self.project_dir / self.target_path, force=True)


def dbt_project(target_path: Path = Path("target")) -> DbtProject:
    return CustomsDbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=target_path)


def parse_env(work_db: Path) -> dict[str, str]:
    """What the dbt profile needs to parse the project: the work database's path (`dbt parse`
    never opens it). `customs-kpi dev` hands this to `dagster dev`, whose code-location loads
    parse the project through `DbtProject.prepare_if_dev()`."""
    return {"CUSTOMS_KPI_WORK_DB": str(work_db)}


def _newest_input_mtime() -> float:
    """The newest change among the parse inputs; a folder's own time counts too, so that a
    deleted or renamed model makes the manifest stale."""
    newest = 0.0
    for name in PARSE_INPUTS:
        p = DBT_DIR / name
        if p.exists():
            newest = max(newest, p.stat().st_mtime)
        if p.is_dir():
            for f in p.rglob("*"):
                newest = max(newest, f.stat().st_mtime)
    return newest


def manifest_is_stale(target_dir: Path = TARGET_DIR) -> bool:
    manifest = target_dir / "manifest.json"
    return not manifest.exists() or manifest.stat().st_mtime < _newest_input_mtime()


def ensure_manifest(target_dir: Path = TARGET_DIR, *, force: bool = False) -> Path:
    """Parse the dbt project into `target_dir` when its manifest is missing or older than its
    sources (or always, with `force`); returns the manifest's path.

    `dbt parse` needs no database connection, only a resolvable profile, so a
    placeholder work-database path is enough here.
    """
    manifest = target_dir / "manifest.json"
    if not force and not manifest_is_stale(target_dir):
        return manifest
    target_dir.mkdir(parents=True, exist_ok=True)
    # one parse at a time: parallel test workers, or a run started beside the UI, share dbt/target
    with open(target_dir / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or manifest_is_stale(target_dir):
            env_default = parse_env(target_dir / "parse-only.duckdb")
            run_dbt(["parse", "--quiet"], {**env_default, **os.environ}, target_path=target_dir)
    return manifest


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


def _parse_cache_file(env: Mapping[str, str]) -> Path:
    """The cache entry of a dbt environment (`Settings.dbt_env()`): every value the profile and
    the models read, except the directory dbt runs in (the data dir's work dir)."""
    values = {k: v for k, v in env.items() if k != DBT_CWD_ENV}
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    return PARSE_CACHE_DIR / f"{digest[:16]}.msgpack"


def _copy_atomically(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)  # a reader sees the old file or the new one, never half of one


def seed_partial_parse(target_path: Path, env: Mapping[str, str]) -> None:
    """Before a data dir's first build: its target gets the partial parse another data dir's build
    left with the same dbt environment, so that dbt parses only what changed since (~3 s idle,
    ~15 s on a loaded machine, instead of the whole project). dbt checks the file itself (its
    version, the profile's connection values, the vars, every file's checksum and the env vars a
    file read) and parses in full whatever it cannot reuse."""
    mine = target_path / PARTIAL_PARSE
    cached = _parse_cache_file(env)
    if not mine.exists() and cached.is_file():
        _copy_atomically(cached, mine)


def keep_partial_parse(target_path: Path, env: Mapping[str, str]) -> None:
    """After a build: its partial parse becomes the cache entry of its dbt environment."""
    mine = target_path / PARTIAL_PARSE
    if mine.is_file():
        _copy_atomically(mine, _parse_cache_file(env))
