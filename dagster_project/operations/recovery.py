"""Runs whose process died (killed, power cut) must not block the next run.

Every step takes a slot of the Dagster pool `warehouse_db` (one slot). A run
killed with SIGKILL never gives its slot back, and its status stays STARTED,
so the next run would wait for the slot forever. Before a run starts, runs in
progress whose process no longer exists are marked failed and their slots
freed. A run whose process is alive (say, one the UI launched) is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _run_pids(instance: DagsterInstance, run_id: str) -> list[int]:
    """Processes that executed the run's steps (from its engine events)."""
    pids = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            try:
                pids.append(int(getattr(pid, "value", pid)))
            except (TypeError, ValueError):
                continue
    return sorted(set(pids))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a recycled pid of an unrelated program does not count
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return True
        return any(word in text for word in ("python", "dagster", "customs-kpi"))
    return True


def release_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark in-progress runs whose processes are gone as failed and free their pool slots."""
    released = []
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS)):
        pids = _run_pids(instance, run.run_id)
        if not pids or any(_alive(p) for p in pids):
            continue
        instance.report_run_failed(
            run,
            message=f"the process that ran it (pid {', '.join(map(str, pids))}) is gone: killed or crashed",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
