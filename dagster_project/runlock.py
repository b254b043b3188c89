"""One run at a time over a data dir: a lock file held with flock for the whole run.

Every run writes the same DuckDB work file, which takes one writer; a second
run started beside the first would fail deep inside a step on DuckDB's file
lock. Instead the run takes `<data dir>/work/run.lock` with `fcntl.flock`
before anything else and keeps it until it ends. The file says which run holds
it (run id, pid, start time), so the one refused can say so. The kernel drops
the lock when the holding process dies, so a killed run never blocks the next.

Taken by `run_pipeline` (the CLI, tests) before it records a run, and by the
job's executor for runs the daemon launches (schedule, sensors, the UI).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from dagster_project.settings import Settings

LOCK_NAME = "run.lock"


class RunInProgress(RuntimeError):
    """Another run holds the data dir's run lock."""


def lock_path(settings: Settings) -> Path:
    return settings.work_dir / LOCK_NAME


def holder(path: Path, wait: float = 1.0) -> dict:
    """What the lock file says about the run holding it (empty while it is being written)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        if text:
            try:
                return json.loads(text)
            except ValueError:
                pass
        if time.monotonic() >= deadline:
            return {}
        time.sleep(0.05)


def busy_message(info: dict) -> str:
    if not info:
        return "another run is in progress (it is just starting)"
    return (
        f"another run is in progress (run {info.get('run_id')}, pid {info.get('pid')}, "
        f"started at {info.get('started_at')})"
    )


def run_in_progress(settings: Settings) -> str | None:
    """The busy message while a run holds the lock, else None (the lock is not kept)."""
    path = lock_path(settings)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return busy_message(holder(path))
    finally:
        os.close(fd)
    return None


@contextmanager
def run_lock(settings: Settings, run_id: str) -> Iterator[Path]:
    """Hold the data dir's run lock for the block; raises RunInProgress at once when taken."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(busy_message(holder(path))) from None
        info = {
            "run_id": run_id,
            "pid": os.getpid(),
            "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
