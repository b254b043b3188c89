"""What a step needs when it starts: settings, the months it covers, env for dbt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext

from dagster_project.partitions import month_of
from dagster_project.months import months_between
from dagster_project.settings import Settings


def run_settings() -> Settings:
    """Settings as they are now: read when a step starts, never at import."""
    return Settings.from_env()


def context_months(context: AssetExecutionContext) -> list[date]:
    """The months of the run's partition (key or key range), in order."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return []
    rng = context.partition_key_range
    return months_between(month_of(rng.start), month_of(rng.end))


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a subprocess started inside the block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def naming_path(path: Path | str) -> Iterator[None]:
    """An OSError raised in the block without a file name (a failed write() or close(), as on
    a full disk) is raised again naming `path`, the file or folder being written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
