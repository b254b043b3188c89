"""The Dagster instance (DAGSTER_HOME) the CLI, the UI and the tests share.

Its storage is Dagster's SQLite storage in Dagster's own layout (`history/runs.db`,
`history/runs/<run id>.db`, `schedules/`), with two changes to the event log
(`PooledSqliteEventLogStorage`): it keeps an engine per file instead of building one for every
event, and it writes the events Dagster sends as a batch in one transaction per file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine, Transaction

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
        # While store_event_batch runs: the thread writing the batch and, per file, its open
        # connection with the batch's transaction begun.
        self._batch_thread: int | None = None
        self._batch: dict[str, tuple[Connection, Transaction]] = {}
        self._tables: set[str] = set()  # the index's tables known to exist (see has_table)
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

    def _ready_engine(self, shard: str) -> Engine:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    def _touch(self, shard: str) -> None:
        if shard != INDEX_SHARD_NAME:
            path = self.path_for_shard(shard)
            if os.path.exists(path):
                os.utime(path)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        if self._batch_thread == threading.get_ident():  # inside store_event_batch, lock held
            if shard not in self._batch:
                conn = self._ready_engine(shard).connect()
                self._batch[shard] = (conn, conn.begin())
            yield self._batch[shard][0]
            return
        with self._db_lock:
            with self._ready_engine(shard).connect() as conn:
                with conn.begin():
                    yield conn
            self._touch(shard)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The events Dagster sends as one batch (a run's planned events, the materializations of
        a partitioned asset's months; see CustomsDagsterInstance) in one transaction per file:
        all of them or, on an error, none (Dagster then stores them one by one)."""
        with self._db_lock:
            self._batch_thread = threading.get_ident()
            try:
                for event in events:
                    self.store_event(event)
                for _, transaction in self._batch.values():
                    transaction.commit()
            except BaseException:
                for _, transaction in self._batch.values():
                    if transaction.is_active:
                        transaction.rollback()
                raise
            finally:
                self._batch_thread = None
                shards, self._batch = self._batch, {}
                for conn, _ in shards.values():
                    conn.close()
                for shard in shards:
                    self._touch(shard)

    def has_table(self, table_name: str) -> bool:
        """Dagster asks this of the index file for every asset event and check result, each time
        with a new engine and connection; a table it has found stays (Dagster's migrations only
        add tables), so a found one is not looked for again."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may outlive them
        self._tables.clear()
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
    be moved.

    Dagster sends some events as batches (the planned events of a run's every asset, check and
    month, then each partitioned asset's materializations) but stores them one by one unless
    DAGSTER_EVENT_BATCH_SIZE is set: here batches are on by default (EVENT_BATCH_SIZE), and the
    pooled event log writes each one in one transaction per file. DAGSTER_EVENT_BATCH_SIZE still
    sets the size (0: one event at a time, as Dagster's default)."""

    EVENT_BATCH_SIZE = 1000

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    def _get_event_batch_size(self) -> int:
        return int(os.getenv("DAGSTER_EVENT_BATCH_SIZE", str(self.EVENT_BATCH_SIZE)))

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
