"""Schedule, sensor, freshness, alerts and status: driven for real against a small warehouse."""

from __future__ import annotations

import gc
import http.server
import io
import json
import os
import shutil
import threading
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, SkipReason, build_schedule_context, build_sensor_context

from dagster_project.contract import FEEDS
from dagster_project.ingest.schema import ensure_raw_schema
from dagster_project.operations.freshness import expected_month, overdue_months
from dagster_project.jobs import build_monthly_pipeline
from dagster_project.operations.schedules import build_monthly_close
from dagster_project.operations.sensors import build_raw_delivery_sensor, plan_runs
from dagster_project.partitions import monthly_partitions
from dagster_project.operations.status import collect_status
from dagster_project.pipeline import run_pipeline
from dagster_project.runtime import patched_environ
from tests.conftest import make_settings
from dagster_project.generate.synth import generate

pytestmark = pytest.mark.slow
MAR, APR = date(2024, 3, 1), date(2024, 4, 1)
PARTITIONS = monthly_partitions(date(2020, 1, 1))
PIPELINE = build_monthly_pipeline(PARTITIONS)
raw_delivery_sensor = build_raw_delivery_sensor(PIPELINE, PARTITIONS)
monthly_close = build_monthly_close(PIPELINE)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two small, clean generated months (2024-03, 2024-04), plain CSV."""
    out = tmp_path_factory.mktemp("generated")
    generate(
        out,
        "2024-03",
        "2024-04",
        declarations_per_month=250,
        seed=11,
        tz="UTC",
        sample_formats=False,
        dirty=False,
    )
    return out


def write_month(raw_dir: Path, month: date, generated: Path) -> None:
    """Deliver one generated month of every feed into the raw folder."""
    for feed in FEEDS:
        src = generated / feed.name / f"{month:%Y-%m}"
        shutil.copytree(src, raw_dir / feed.name / f"{month:%Y-%m}", dirs_exist_ok=True)


def evaluate_sensor(settings, instance, cursor):
    with patched_environ(settings.as_env()):
        ctx = build_sensor_context(instance=instance, cursor=cursor)
        result = raw_delivery_sensor(ctx)
    return result.run_requests or [], result.cursor


def published_tables(settings) -> dict[str, list]:
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        return {
            t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall()
            for t in ("fct_declarations", "kpi_monthly", "trs_monthly")
        }


def test_plan_runs_is_pure():
    assert plan_runs({"2024-03": "a", "2024-04": "b"}, {"2024-03": "a"}, {}) == ["2024-04"]
    assert plan_runs({"2024-04": "b"}, {}, {"2024-04": "b"}) == []
    assert plan_runs({"2024-04": "c"}, {"2024-04": "b"}, {"2024-04": "b"}) == ["2024-04"]


def live_connections() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, duckdb.DuckDBPyConnection))


def test_the_sensor_leaves_no_connection_alive(tmp_path, generated):
    """A connection the sensor's frame names outlives the evaluation (Dagster keeps the frame):
    left for the interpreter's exit, it made nanobind print "leaked instances" after the tests."""
    settings = make_settings(tmp_path / "w", CUSTOMS_KPI_SETTLE_SECONDS="0")
    settings.work_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.work_db)) as con:
        ensure_raw_schema(con)
    write_month(settings.raw_dir, MAR, generated)
    before = live_connections()
    requests, _ = evaluate_sensor(settings, DagsterInstance.ephemeral(), None)
    assert [r.partition_key for r in requests] == ["2024-03-01"]
    assert live_connections() == before


def test_sensor_runs_new_and_changed_months_exactly_once(tmp_path, generated):
    settings = make_settings(tmp_path / "w", CUSTOMS_KPI_SETTLE_SECONDS="0")
    write_month(settings.raw_dir, MAR, generated)
    assert run_pipeline(settings, out=io.StringIO()).success
    instance = DagsterInstance.ephemeral()

    requests, cursor = evaluate_sensor(settings, instance, None)
    assert requests == []  # everything on disk is loaded

    write_month(settings.raw_dir, APR, generated)
    requests, cursor = evaluate_sensor(settings, instance, cursor)
    assert [r.partition_key for r in requests] == ["2024-04-01"]
    again, cursor = evaluate_sensor(settings, instance, cursor)
    assert again == []  # asked once for this content
    assert run_pipeline(
        settings, month_from=APR, month_to=APR, launched_by="sensor", out=io.StringIO()
    ).success
    requests, cursor = evaluate_sensor(settings, instance, cursor)
    assert requests == []

    # touching a file without changing it runs nothing
    path = sorted((settings.raw_dir / "tickets" / "2024-03").glob("*.csv"))[0]
    os.utime(path, (1_700_000_000, 1_700_000_000))
    requests, cursor = evaluate_sensor(settings, instance, cursor)
    assert requests == []

    # changing its content runs that month exactly once
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # re-delivered without its last ticket
    requests, cursor = evaluate_sensor(settings, instance, cursor)
    assert [r.partition_key for r in requests] == ["2024-03-01"]
    assert evaluate_sensor(settings, instance, cursor)[0] == []
    assert run_pipeline(
        settings, month_from=MAR, month_to=MAR, launched_by="sensor", out=io.StringIO()
    ).success

    # an in-progress copy appearing, or a folder emptied (kept), is no new delivery: no run
    (settings.raw_dir / "lanes" / "2024-04" / "late.csv.part").write_text("declaration_id,lane\n")
    for f in (settings.raw_dir / "drawback" / "2024-04").iterdir():
        f.unlink()
    requests, cursor = evaluate_sensor(settings, instance, cursor)
    assert requests == []
    (settings.raw_dir / "lanes" / "2024-04" / "late.csv.part").unlink()
    shutil.copytree(
        generated / "drawback" / "2024-04",
        settings.raw_dir / "drawback" / "2024-04",
        dirs_exist_ok=True,
    )

    # the rerun's marts equal a fresh full build of the same files
    fresh = make_settings(tmp_path / "fresh")
    shutil.copytree(settings.raw_dir, fresh.raw_dir)
    assert run_pipeline(fresh, out=io.StringIO()).success
    assert published_tables(settings) == published_tables(fresh)


def test_schedule_runs_the_month_just_closed_on_its_day(monkeypatch):
    monkeypatch.setenv("CUSTOMS_KPI_SCHEDULE_DAY", "5")
    ctx = build_schedule_context(
        scheduled_execution_time=datetime(2025, 1, 5, 6, 0, tzinfo=timezone.utc)
    )
    request = monthly_close(ctx)
    assert request.partition_key == "2024-12-01" and request.run_key == "monthly_close:2024-12-01"
    ctx = build_schedule_context(
        scheduled_execution_time=datetime(2025, 1, 6, 6, 0, tzinfo=timezone.utc)
    )
    assert isinstance(monthly_close(ctx), SkipReason)


def test_freshness_rules():
    assert expected_month(date(2025, 1, 10), 10) == date(2024, 11, 1)
    assert expected_month(date(2025, 1, 11), 10) == date(2024, 12, 1)
    assert overdue_months([date(2024, 12, 1)], date(2025, 1, 11), 10) == []
    assert overdue_months([date(2024, 10, 1)], date(2025, 1, 11), 10) == [
        date(2024, 11, 1),
        date(2024, 12, 1),
    ]
    assert overdue_months([], date(2025, 1, 11), 10) == [date(2024, 12, 1)]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failed_run_writes_one_line_alert_and_posts_it(tmp_path, generated):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        settings = make_settings(tmp_path / "w", CUSTOMS_KPI_ALERT_WEBHOOK=url)
        write_month(settings.raw_dir, MAR, generated)
        (settings.raw_dir / "lanes" / "2024-03" / "more.csv").write_text(
            "declaration_id,lane\nD1,GREEN\n"
        )
        outcome = run_pipeline(settings, out=io.StringIO())
        assert not outcome.success
        lines = (settings.data_dir / "logs" / "alerts.log").read_text().splitlines()
        assert len(lines) == 1
        assert "months=2024-03" in lines[0]
        assert "lanes 2024-03: file 'more.csv': missing required column: assigned_at" in lines[0]
        assert [m["text"] for m in _Hook.received] == lines

        status = {(s.feed, s.month): s for s in collect_status(settings, today=date(2024, 4, 5))}
        assert status[("lanes", MAR)].state == "failed"
        assert "more.csv" in status[("lanes", MAR)].detail
        assert status[("declarations", MAR)].state == "not published"
    finally:
        server.shutdown()
