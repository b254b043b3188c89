"""The Dagster instance of a data dir: Dagster's SQLite layout, an event log that keeps one
engine per file, a UI that still follows a live run, and dagster.yaml kept current."""

from __future__ import annotations

import threading
import time

from dagster import AssetKey, AssetMaterialization, DagsterEventType, DagsterInstance
from dagster._core.events import DagsterEvent, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_project.instance import (
    DAGSTER_YAML,
    EARLIER_DAGSTER_YAMLS,
    CustomsDagsterInstance,
    PooledSqliteEventLogStorage,
    ensure_dagster_home,
)
from tests.conftest import make_settings


def materialization(run_id: str, i: int) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value,
            "customs_kpi_monthly",
            event_specific_data=StepMaterializationData(
                AssetMaterialization(AssetKey(["raw_declarations"]), metadata={"i": i})
            ),
        ),
    )


def test_a_data_dirs_instance_stores_events_in_dagsters_own_files(tmp_path):
    settings = make_settings(tmp_path)
    home = ensure_dagster_home(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance) is CustomsDagsterInstance
        storage = instance.event_log_storage
        assert type(storage) is PooledSqliteEventLogStorage
        for i in range(5):
            storage.store_event(materialization("run-1", i))
        # the override is the one Dagster calls: the run's file and the index have kept engines
        assert {"run-1", "index"} <= set(storage._engines)
    # Dagster's own class reads the same files: the layout is Dagster's
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    records = plain.get_records_for_run("run-1").records
    assert [
        r.event_log_entry.dagster_event.step_materialization_data.materialization.metadata[
            "i"
        ].value
        for r in records
    ] == list(range(5))
    latest = plain.get_latest_materialization_events([AssetKey(["raw_declarations"])])
    assert latest[AssetKey(["raw_declarations"])] is not None
    plain.dispose()


def test_the_ui_sees_every_event_of_a_live_run(tmp_path):
    """The UI follows a run by watching its `.db` file (watchdog). A kept connection writes to
    the `-wal` file only, so the writer sets the `.db` file's time after each write."""
    settings = make_settings(tmp_path)
    home = ensure_dagster_home(settings)
    runs = str(home / "history" / "runs")
    writer = PooledSqliteEventLogStorage(runs)
    writer.store_event(materialization("live", 0))  # the run's file exists before the UI watches
    seen: list[int] = []
    arrived = threading.Event()

    def on_event(entry, cursor):
        seen.append(
            entry.dagster_event.step_materialization_data.materialization.metadata["i"].value
        )
        arrived.set()

    watcher = SqliteEventLogStorage(runs)  # the UI's process has its own storage
    watcher.watch("live", None, on_event)
    try:
        time.sleep(0.5)  # the observer thread starts
        for i in range(1, 6):
            arrived.clear()
            writer.store_event(materialization("live", i))
            assert arrived.wait(10), f"the watcher saw {seen} but not event {i}"
        deadline = time.monotonic() + 10
        while seen[-1] != 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(set(seen)) == list(range(6)) and seen[-1] == 5
    finally:
        watcher.end_watch("live", on_event)
        watcher.dispose()
        writer.dispose()


def test_dagster_yaml_is_written_once_and_an_earlier_default_replaced(tmp_path):
    settings = make_settings(tmp_path)
    config = settings.dagster_home_dir / "dagster.yaml"
    ensure_dagster_home(settings)
    assert config.read_text(encoding="utf-8") == DAGSTER_YAML
    # a home an earlier version set up gets the current file
    config.write_text(EARLIER_DAGSTER_YAMLS[0], encoding="utf-8")
    ensure_dagster_home(settings)
    assert config.read_text(encoding="utf-8") == DAGSTER_YAML
    # a file the operator edited is theirs
    edited = EARLIER_DAGSTER_YAMLS[0] + "run_monitoring:\n  enabled: true\n"
    config.write_text(edited, encoding="utf-8")
    ensure_dagster_home(settings)
    assert config.read_text(encoding="utf-8") == edited
