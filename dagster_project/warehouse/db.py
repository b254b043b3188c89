"""Connections to the work database, with the run's resource limits applied."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.settings import Settings


def connect(
    path: Path | str, settings: Settings, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database with memory/threads from settings and the session in UTC.

    The session time zone is UTC so that TIMESTAMPTZ values print and cast the
    same on every machine; code that needs local time converts explicitly.
    """
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only, config=settings.duckdb_config())
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def work_db(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(settings.work_db, settings, read_only=read_only)
    try:
        yield con
    finally:
        con.close()
