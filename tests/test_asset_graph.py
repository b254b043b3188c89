"""Snapshot of the whole Dagster asset graph: keys, groups, checks, jobs, schedules, sensors.

A change to the graph shows up here as a diff. After an intended change:
UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_asset_graph.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe(defs) -> str:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    lines = ["# assets (key | group | partitioned | upstream)"]
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        parents = ",".join(sorted(k.to_user_string() for k in node.parent_keys))
        lines.append(
            f"{key.to_user_string()} | {node.group_name} | {node.partitions_def is not None} | {parents}"
        )
    lines.append("# asset checks (asset:check | blocking)")
    for check_key in sorted(
        graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)
    ):
        spec = graph.get_check_spec(check_key)
        lines.append(f"{check_key.asset_key.to_user_string()}:{check_key.name} | {spec.blocking}")
    lines.append("# jobs")
    lines += sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__"))
    lines.append("# schedules")
    lines += sorted(f"{s.name} | {s.cron_schedule} | {s.job_name}" for s in repo.schedule_defs)
    lines.append("# sensors")
    lines += sorted(s.name for s in repo.sensor_defs)
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot():
    from dagster_project.assemble import build_definitions

    current = describe(build_definitions())
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(current, encoding="utf-8")
        if not os.environ.get("UPDATE_SNAPSHOTS"):
            pytest.fail(f"no snapshot yet: wrote {SNAPSHOT}; review and commit it")
    assert current == SNAPSHOT.read_text(encoding="utf-8")


def test_graph_has_lineage_from_every_raw_feed_to_publish():
    from dagster import AssetKey

    from dagster_project.contract import FEEDS
    from dagster_project.assemble import build_definitions

    graph = build_definitions().get_repository_def().asset_graph
    published = AssetKey(["published_warehouse"])
    upstream = graph.get_ancestor_asset_keys(published)
    for feed in FEEDS:
        assert AssetKey(["raw", feed.name]) in upstream, feed.name
    assert AssetKey(["marts", "fct_declarations"]) in upstream


def test_dagster_definitions_validate(tmp_path):
    import subprocess
    import sys

    env = {
        **os.environ,
        "CUSTOMS_KPI_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    (tmp_path / "dh").mkdir()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-m",
            "dagster_project.definitions",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "All code locations passed validation" in output, output
