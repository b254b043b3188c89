"""`make dev`: the Dagster UI starts on 127.0.0.1, shows raw -> KPI lineage, and stops by its pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import dump_dom, screenshot
from tests.conftest import CLI, make_settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the UI exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def test_dev_ui_shows_lineage_and_stops_cleanly(tmp_path):
    settings = make_settings(tmp_path)
    port = free_port()
    env = {**os.environ, **settings.as_env()}
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(
        [str(CLI), "dev", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, signal.SIG_DFL),
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
        ),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/server_info", proc)
        groups = dump_dom(f"{base}/asset-groups", wait_ms=30000)
        for group in ("raw", "staging", "intermediate", "marts", "publish"):
            assert f">{group}<" in groups, f"group {group} not in the global lineage"
        lineage = (
            f"{base}/assets/marts/kpi_monthly?view=lineage&lineageScope=upstream&lineageDepth=10"
        )
        dom = dump_dom(lineage, wait_ms=30000)
        for node in (
            "declarations",
            "lanes",
            "tickets",
            "stg_declarations",
            "fct_declarations",
            "int_kpi_sla",
            "kpi_monthly",
        ):
            assert f">{node}<" in dom, f"{node} not in the rendered raw -> KPI lineage"
        shot = screenshot(lineage, tmp_path / "kpi-lineage.png", wait_ms=30000)
        assert shot.stat().st_size > 20_000
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the UI did not stop on SIGTERM")
        log.close()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is still served after stop"


def test_the_ui_parses_the_dbt_project_on_load(tmp_path, monkeypatch):
    """Under `dagster dev`, DbtProject.prepare_if_dev() runs `dbt parse` with the environment
    `customs-kpi dev` hands over (the work database's path, this interpreter's dbt), under the
    same lock as `customs-kpi run`'s parse (transform/project.py)."""
    from dagster_project.transform.project import dbt_project, parse_env

    settings = make_settings(tmp_path)
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.delenv("CUSTOMS_KPI_WORK_DB", raising=False)
    for name, value in parse_env(settings.work_db).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin"]))
    project = dbt_project(target_path=tmp_path / "target")
    assert not project.manifest_path.exists()
    project.prepare_if_dev()
    manifest = json.loads(project.manifest_path.read_text())
    assert "model.customs_kpi.kpi_monthly" in manifest["nodes"]
    assert (tmp_path / "target" / ".parse.lock").exists(), "the parse went around the lock"
    assert not settings.work_db.exists(), "parsing must not open the work database"
