"""A run killed (SIGKILL) at any step leaves the published warehouse untouched; the next run heals.

`customs-kpi run` runs in a subprocess and is killed once its progress output
shows the step under test started (for publishing: once the new file is being
written beside the published one). After every kill the published file and the
Parquet set `marts/parquet` names are byte-identical to before (kills inside
the Parquet publish: tests/test_parquet_publish.py); the next run completes and its
figures equal a fresh full build of the same raw files.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract import FEEDS
from dagster_project.generate.synth import generate
from dagster_project.pipeline import run_pipeline
from tests.conftest import CLI, make_settings, sha256

pytestmark = pytest.mark.slow

FEEDS_DIRS = tuple(f.name for f in FEEDS)
COMPARED = ("fct_declarations", "kpi_monthly", "trs_monthly")

# step -> (progress line that shows it started, extra seconds to let it get into its work)
KILL_POINTS = {
    "load": ("raw__declarations: declarations 2024-0", 0.0),
    "check": ("_quality: checking", 1.0),
    "dbt": ("customs_dbt_models: rebuilding months", 3.0),
    "publish": (None, 0.0),  # killed as soon as the new file appears in marts/
}


def published_state(settings) -> dict[str, str]:
    """The published file and the Parquet set the `marts/parquet` link names (and which version that is)."""
    version = (settings.marts_dir / "parquet").resolve()
    files = {
        p.relative_to(version).as_posix(): sha256(p) for p in sorted(version.rglob("*.parquet"))
    }
    return {"warehouse.duckdb": sha256(settings.published_db), "parquet ->": version.name, **files}


def run_and_kill(settings, step: str, timeout: float = 300) -> str:
    marker, delay = KILL_POINTS[step]
    env = {**os.environ, **settings.as_env()}
    proc = subprocess.Popen(
        [str(CLI), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: dbt is killed with it
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    hit = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=0.05)
            seen.append(line)
            hit = marker is not None and marker in line
        except queue.Empty:
            pass
        if marker is None and list(settings.marts_dir.glob(".warehouse.*.tmp")):
            hit = True
        if hit:
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "".join(seen)
    proc.kill()
    pytest.fail(f"step {step} never started (exit {proc.poll()}):\n" + "".join(seen))


def tables(path: Path) -> dict[str, list]:
    with duckdb.connect(str(path), read_only=True) as con:
        out = {t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall() for t in COMPARED}
        out["load_audit"] = con.execute(
            "SELECT * EXCLUDE (loaded_at) FROM marts.load_audit ORDER BY ALL"
        ).fetchall()
    return out


def test_kill_at_every_step_then_recover(tmp_path):
    settings = make_settings(tmp_path / "data")
    generate(
        settings.raw_dir, "2024-06", "2024-08", declarations_per_month=100, seed=7, tz=settings.tz
    )
    aside = tmp_path / "aside"
    for feed in FEEDS_DIRS:
        shutil.move(str(settings.raw_dir / feed / "2024-08"), str(aside / feed))
    first = run_pipeline(settings, out=io.StringIO())
    assert first.success, first.failures
    for feed in FEEDS_DIRS:  # August arrives
        shutil.move(str(aside / feed), str(settings.raw_dir / feed / "2024-08"))

    before = published_state(settings)
    for step in KILL_POINTS:
        output = run_and_kill(settings, step)
        assert published_state(settings) == before, (
            f"killed at {step}: the published files changed\n{output}"
        )
    assert list(settings.marts_dir.glob(".*.tmp")), (
        "the publish kill should have left its temporary file"
    )

    recovered = run_pipeline(settings, out=io.StringIO())
    assert recovered.success, recovered.failures
    assert list(settings.marts_dir.glob(".*.tmp*")) == []
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT quality_result FROM raw.load_audit").fetchall() == [
            ("passed",)
        ]

    fresh = make_settings(tmp_path / "fresh")
    shutil.copytree(settings.raw_dir, fresh.raw_dir)
    full = run_pipeline(fresh, full_refresh=True, out=io.StringIO())  # `run --full-refresh`
    assert full.success, full.failures
    got, expected = tables(settings.published_db), tables(fresh.published_db)
    for name in expected:
        assert got[name] == expected[name], name
