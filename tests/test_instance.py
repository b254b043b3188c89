"""The Dagster instance of a data dir: Dagster's SQLite layout, an event log that keeps one
engine per file and writes a batch of events in one transaction, a UI that still follows a live
run, and dagster.yaml kept current."""

from __future__ import annotations

import threading
import time

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterEventType, DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, StepMaterializationData
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


def stored(storage, run_id: str) -> list[int]:
    return [
        r.event_log_entry.dagster_event.step_materialization_data.materialization.metadata[
            "i"
        ].value
        for r in storage.get_records_for_run(run_id).records
    ]


def indexed(storage) -> int | None:
    """The `i` of the latest materialization of raw_declarations in the cross-run index."""
    latest = storage.get_latest_materialization_events([AssetKey(["raw_declarations"])])
    event = latest.get(AssetKey(["raw_declarations"]))
    return event.asset_materialization.metadata["i"].value if event else None


def test_the_instance_stores_a_batch_at_its_end_in_one_go(tmp_path):
    """Dagster sends a run's planned events and a partitioned asset's materializations as a
    batch; the instance keeps them until the batch ends, then the event log writes them in one
    transaction per file (DAGSTER_EVENT_BATCH_SIZE=0 turns this off)."""
    home = ensure_dagster_home(make_settings(tmp_path))
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        for i in range(3):
            instance.handle_new_event(
                materialization("run-b", i),
                batch_metadata=DagsterEventBatchMetadata("batch-1", is_end=i == 2),
            )
            assert stored(storage, "run-b") == ([] if i < 2 else [0, 1, 2])
        assert indexed(storage) == 2


def test_a_batch_that_fails_stores_none_of_its_events(tmp_path, monkeypatch):
    home = ensure_dagster_home(make_settings(tmp_path))
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.store_event(materialization("run-f", 0))
        real = storage.prepare_insert_event

        def failing_on_the_third(event):
            if (
                event.dagster_event.step_materialization_data.materialization.metadata["i"].value
                == 3
            ):
                raise OSError("disk full")
            return real(event)

        monkeypatch.setattr(storage, "prepare_insert_event", failing_on_the_third)
        with pytest.raises(OSError, match="disk full"):
            storage.store_event_batch([materialization("run-f", i) for i in (1, 2, 3)])
        # neither the run's file nor the index kept the batch's first two events
        assert stored(storage, "run-f") == [0] and indexed(storage) == 0
        monkeypatch.undo()
        # nothing is left locked or open: the next writes go through, one and batched
        storage.store_event(materialization("run-f", 4))
        storage.store_event_batch([materialization("run-f", i) for i in (5, 6)])
        assert stored(storage, "run-f") == [0, 4, 5, 6] and indexed(storage) == 6
        # Dagster stores a failed batch's events one by one: here the batch left nothing behind
        # that such a retry would duplicate
        instance.handle_new_event(
            materialization("run-f", 7), batch_metadata=DagsterEventBatchMetadata("b", True)
        )
        assert stored(storage, "run-f") == [0, 4, 5, 6, 7]


def test_a_table_found_in_the_index_is_not_looked_for_again(tmp_path, monkeypatch):
    home = ensure_dagster_home(make_settings(tmp_path))
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert storage.has_table("asset_check_executions")
        assert not storage.has_table("not_yet_made")  # a missing one is asked again
        with storage.index_connection() as conn:
            conn.exec_driver_sql("CREATE TABLE not_yet_made (x INTEGER)")
        assert storage.has_table("not_yet_made")

        def no_new_engine(*args, **kwargs):
            raise AssertionError("has_table built an engine for a table it had found")

        monkeypatch.setattr(SqliteEventLogStorage, "has_table", no_new_engine)
        assert storage.has_table("asset_check_executions") and storage.has_table("not_yet_made")


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
        arrived.clear()
        writer.store_event_batch([materialization("live", i) for i in (6, 7)])
        assert arrived.wait(10), f"the watcher saw {seen} but not the batch"
        deadline = time.monotonic() + 10
        while seen[-1] != 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(set(seen)) == list(range(8)) and seen[-1] == 7
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
