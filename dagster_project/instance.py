"""The Dagster instance (DAGSTER_HOME) the CLI, the UI and the tests share.

Its storage is Dagster's SQLite storage in Dagster's own layout (`history/runs.db`,
`history/runs/<run id>.db`, `schedules/`), with one change: the event log keeps an engine per
file instead of building one for every event (`PooledSqliteEventLogStorage`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

from dagster_project.settings import Settings

_HEADER = "# Written by customs-kpi. Runs and event logs live in this folder (SQLite).\n"
# One run at a time: every run writes the same DuckDB work file.
_LIMITS = """\
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""
_INSTANCE_CLASS = """\
instance_class:
  module: dagster_project.instance
  class: CustomsDagsterInstance
"""
DAGSTER_YAML = _HEADER + _INSTANCE_CLASS + _LIMITS

# What earlier versions wrote: such a file is replaced by DAGSTER_YAML (any other is left alone).
EARLIER_DAGSTER_YAMLS = (_HEADER + _LIMITS,)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, with one SQLAlchemy engine kept per file.

    Dagster's class builds an engine, connects, commits and disposes the engine for every write,
    and a check result touches two files: ~10 ms an event, and a run stores several hundred
    (every dbt model and data test is an asset or a check, planned then evaluated). Here each
    file keeps its engine and one pooled connection; files, tables and SQLite locking are
    Dagster's. A kept connection writes to the file's `-wal` and leaves the `.db` file itself
    untouched, but the UI follows a live run by watching that file (watchdog, `on_modified`):
    so after each write to a run's file its time is set anew, as a closed connection's checkpoint
    did before.
    """

    MAX_ENGINES = 8  # the index file and the latest runs' files; the oldest engine is disposed

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    pool_size=1,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
            self._engines[shard] = engine
            while len(self._engines) > self.MAX_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
            if shard != INDEX_SHARD_NAME:
                path = self.path_for_shard(shard)
                if os.path.exists(path):
                    os.utime(path)

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


class CustomsSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event logs, schedules) with the pooled event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(
            os.path.join(base_dir, "history", "runs", "")
        )

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)


class CustomsDagsterInstance(DagsterInstance):
    """The instance `dagster.yaml` names (`instance_class`): Dagster's defaults for a home
    folder, but `CustomsSqliteStorage` for its storage. Dagster hands a custom instance class
    the home folder's path when it loads it, so dagster.yaml names no path and a data dir can
    be moved."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> dict:
        return {
            **InstanceRef.config_defaults(base_dir),
            "storage": ConfigurableClassData(
                __name__,
                CustomsSqliteStorage.__name__,
                yaml.dump({"base_dir": base_dir}, default_flow_style=False),
            ),
        }


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' folder and give it a dagster.yaml if it has none (or
    one an earlier version wrote, unchanged since)."""
    home = settings.dagster_home_dir
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") in EARLIER_DAGSTER_YAMLS:
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
