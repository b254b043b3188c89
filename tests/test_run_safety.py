"""Running safely: one run at a time, errors that name their cause, settings checked at start,
a bounded memory budget, no orphaned dbt, bounded quality Data Docs.

Real `customs-kpi run` processes on small generated data.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dagster_project.generate.synth import generate
from dagster_project.runlock import lock_path, run_lock
from dagster_project.transform.child import DBT_CHILD
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CLI = BIN / "customs-kpi"
MONTHS = ("2024-06", "2024-07")


def start_cli(settings, *args: str, **env_extra: str) -> tuple[subprocess.Popen, queue.Queue]:
    env = {**os.environ, **settings.as_env(), **env_extra}
    proc = subprocess.Popen(
        [str(CLI), "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: ([lines.put(x) for x in proc.stdout], lines.put(None)), daemon=True
    ).start()
    return proc, lines


def wait_for(lines: queue.Queue, marker: str, seen: list[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return
    pytest.fail(f"never saw {marker!r}:\n" + "".join(seen))


def drain(proc: subprocess.Popen, lines: queue.Queue, seen: list[str], timeout: float = 600) -> str:
    proc.wait(timeout=timeout)
    while True:
        line = lines.get(timeout=10)
        if line is None:
            return "".join(seen)
        seen.append(line)


def run_cli(
    settings, *args: str, timeout: float = 600, **env_extra: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, **settings.as_env(), **env_extra}
    return subprocess.run(
        [str(CLI), "run", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("safety")
    settings = make_settings(data)
    generate(
        settings.raw_dir, MONTHS[0], MONTHS[1], declarations_per_month=150, seed=5, tz=settings.tz
    )
    return settings


# ---- one run at a time ------------------------------------------------------------------------------


def test_a_second_run_is_refused_at_once_and_the_first_publishes(world):
    settings = world
    first, first_lines = start_cli(settings)
    seen: list[str] = []
    wait_for(first_lines, "monthly_pipeline: ", seen)  # printed once the run holds the lock
    holder = json.loads(lock_path(settings).read_text())
    second = run_cli(settings, timeout=120)
    assert second.returncode == 3, second.stdout + second.stderr
    expected = (
        f"error: another run is in progress (run {holder['run_id']}, pid {first.pid}, "
        f"started at {holder['started_at']})"
    )
    assert expected in second.stderr.splitlines()
    assert first.poll() is None  # refused while the first was still working
    output = drain(first, first_lines, seen)
    assert first.returncode == 0, output
    assert f"run {holder['run_id']}: published" in output
    assert settings.published_db.is_file()
    assert lock_path(settings).read_text() == ""  # released


def test_a_killed_run_does_not_block_the_next(world):
    settings = world
    proc, lines = start_cli(settings)
    seen: list[str] = []
    wait_for(lines, "monthly_pipeline: ", seen)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(lock_path(settings).read_text())["pid"] == proc.pid  # the file still names it
    with run_lock(settings, "next-run"):  # but the kernel released the lock with the process
        assert json.loads(lock_path(settings).read_text())["run_id"] == "next-run"


def test_a_run_launched_with_the_jobs_own_executor_is_refused_while_a_run_works(world):
    """The daemon (schedule, sensors, the UI) runs the job with its executor, not run_pipeline:
    `dagster job execute` goes through the same executor."""
    from dagster_project.instance import ensure_dagster_home

    settings = world
    ensure_dagster_home(settings)
    env = {**os.environ, **settings.as_env()}
    tags = json.dumps(
        {
            "dagster/asset_partition_range_start": f"{MONTHS[0]}-01",
            "dagster/asset_partition_range_end": f"{MONTHS[0]}-01",
        }
    )
    with run_lock(settings, "held-by-the-test"):
        proc = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "dagster_project.definitions",
                "-j",
                "monthly_pipeline",
                "--tags",
                tags,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).parent.parent,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    busy = f"another run is in progress (run held-by-the-test, pid {os.getpid()}"
    assert busy in output
    assert "STEP_START" not in output  # refused before any step

    # the failure alert the daemon would send says why
    from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

    from dagster_project.jobs import build_monthly_pipeline
    from dagster_project.operations.sensors import build_run_failure_alert
    from dagster_project.partitions import monthly_partitions
    from dagster_project.runtime import patched_environ

    run_failure_alert = build_run_failure_alert(
        build_monthly_pipeline(monthly_partitions(settings.first_month))
    )

    with DagsterInstance.from_config(str(settings.dagster_home_dir)) as instance:
        run = next(
            r
            for r in instance.get_runs()
            if r.job_name == "monthly_pipeline"
            and r.is_failure
            and "customs_kpi/launched_by" not in r.tags
        )
        (failure,) = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.dagster_event,
        ).for_run_failure()
        with patched_environ(settings.as_env()):
            run_failure_alert(context)
    alerts = (settings.data_dir / "logs" / "alerts.log").read_text().splitlines()
    assert any(f"run={run.run_id[:8]}" in line and busy in line for line in alerts)


# ---- errors that name their cause; settings checked when the run starts --------------------------------


def test_a_bad_setting_stops_the_run_at_once_naming_it(world):
    proc = run_cli(world, timeout=120, CUSTOMS_KPI_MEMORY_LIMIT="lots")
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "error: CUSTOMS_KPI_MEMORY_LIMIT='lots' is not a DuckDB memory limit"
    )
    assert (
        len(proc.stderr.splitlines()) == 1
        and "Error occurred while executing op" not in proc.stderr
    )


@pytest.fixture
def small_disk(tmp_path):
    """Mount a small tmpfs on a folder (we run as root in the sandbox); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(folder)

    try:
        yield mount
    finally:
        for folder in reversed(mounted):
            subprocess.run(["umount", "-l", str(folder)], check=False)


def copy_world(world, tmp_path: Path):
    import shutil

    settings = make_settings(tmp_path / "data")
    shutil.copytree(world.raw_dir, settings.raw_dir)
    return settings


@pytest.mark.parametrize("folder,size", [("work", "512k"), ("marts", "1m")])
def test_a_full_disk_is_reported_in_one_line_naming_the_file(
    world, tmp_path, small_disk, folder, size
):
    settings = copy_world(world, tmp_path)
    full = settings.data_dir / folder
    small_disk(full, size)
    proc = run_cli(settings)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert errors and "Error occurred while executing op" not in proc.stderr
    full_disk = [x for x in errors if f": No space left on device while writing {full}/" in x]
    assert full_disk, proc.stderr
    alerts = (settings.data_dir / "logs" / "alerts.log").read_text()
    assert f"No space left on device while writing {full}/" in alerts


# ---- the default memory budget -----------------------------------------------------------------------


def duckdb_shows(memory_limit: str) -> str:
    import duckdb

    with duckdb.connect(config={"memory_limit": memory_limit}) as con:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_with_no_setting_the_pipeline_and_dbt_get_a_ninth_of_the_memory(tmp_path):
    from dagster_project.settings import DBT_DIR, machine_memory
    from dagster_project.warehouse.db import connect

    settings = make_settings(tmp_path)
    assert settings.memory_limit is None
    ninth = f"{machine_memory() // 9 // 2**20}MiB"
    assert settings.duckdb_memory_limit == ninth
    expected = (duckdb_shows(ninth), str(settings.work_dir / "tmp"))

    con = connect(settings.work_db, settings)
    try:
        pipeline = tuple(
            con.execute(
                "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchall()[0]
        )
    finally:
        con.close()
    assert pipeline == expected

    env = {
        k: v for k, v in os.environ.items() if k != "CUSTOMS_KPI_MEMORY_LIMIT"
    } | settings.dbt_env()
    proc = subprocess.run(
        [
            str(BIN / DBT_CHILD),  # as the pipeline starts dbt: in the work dir
            "show",
            "--quiet",
            "--output",
            "json",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--inline",
            "select current_setting('memory_limit') as m, current_setting('temp_directory') as t",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads(proc.stdout[proc.stdout.index("{") :])["show"][0]
    # the profile names the temp directory relative to the work dir dbt runs in
    assert (shown["m"], str(settings.work_dir / shown["t"])) == expected


def test_the_memory_setting_overrides_the_default(tmp_path):
    from dagster_project.warehouse.db import connect

    settings = make_settings(tmp_path, CUSTOMS_KPI_MEMORY_LIMIT="300MiB")
    con = connect(settings.work_db, settings)
    try:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][
            0
        ] == duckdb_shows("300MiB")
    finally:
        con.close()
    assert settings.dbt_env()["CUSTOMS_KPI_MEMORY_LIMIT"] == "300MiB"


# A sort of 6M integers at 64 MiB and one thread: DuckDB spills it to the temp directory.
SPILLING_SQL = "select i from range(6000000) r(i) order by hash(i)"


def test_a_dbt_model_that_spills_to_disk_does_not_stop_the_models_after_it(tmp_path):
    """Found at 10M declarations: once one model had spilled, every later one failed with
    "Cannot switch temporary directory after the current one has been used", because the
    profile set the temp directory again on each new cursor. A two-model project on the
    project's own profile, under a memory limit its first model spills at."""
    import duckdb

    from dagster_project.settings import DBT_DIR

    settings = make_settings(tmp_path, CUSTOMS_KPI_MEMORY_LIMIT="64MiB", CUSTOMS_KPI_THREADS="1")
    spill_dir = tmp_path / "spill_check.tmp"
    with duckdb.connect(
        config={"memory_limit": "64MiB", "threads": "1", "temp_directory": str(spill_dir)}
    ) as con:
        con.execute(f"create table t as {SPILLING_SQL}")
        assert spill_dir.is_dir(), "the model's query no longer spills at this limit"

    project = tmp_path / "spill_project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        'name: spill\nversion: "1.0.0"\nconfig-version: 2\nprofile: customs_kpi\n'
        "models:\n  spill:\n    +materialized: table\n"
    )
    (project / "models" / "sorted_big.sql").write_text(SPILLING_SQL)
    (project / "models" / "after_the_spill.sql").write_text(
        "select count(*) as n, current_setting('temp_directory') as t from {{ ref('sorted_big') }}"
    )
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            str(BIN / DBT_CHILD),
            "run",
            "--threads",
            "1",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(tmp_path / "target"),
        ],
        env=settings.dbt_process_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        ((n, temp_dir),) = con.execute("select n, t from main.after_the_spill").fetchall()
    assert (n, settings.work_dir / temp_dir) == (6_000_000, settings.duckdb_temp_dir)


# ---- dbt ends with the run's process ------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_the_run_ends_its_dbt_child(world, tmp_path, sig):
    settings = copy_world(world, tmp_path)
    proc, lines = start_cli(settings)
    seen: list[str] = []
    wait_for(lines, "customs_dbt_models: rebuilding months", seen)
    deadline = time.monotonic() + 60
    dbt = []
    while not dbt and time.monotonic() < deadline:
        dbt = [p for p in children(proc.pid) if " build " in cmdline(p) and "dbt" in cmdline(p)]
        time.sleep(0.05)
    assert dbt, "dbt build never started:\n" + "".join(seen)
    os.kill(proc.pid, sig)  # the run's process only, not its process group
    proc.wait(timeout=60)
    deadline = time.monotonic() + 5  # a live orphan would run its build on for far longer
    while running(dbt[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = running(dbt[0])
    if alive:
        os.kill(dbt[0], signal.SIGKILL)
    assert not alive, f"dbt (pid {dbt[0]}) outlived the run's process"


# ---- quality Data Docs stay bounded --------------------------------------------------------------------


def test_quality_docs_keep_the_newest_runs_and_those_behind_passed_months(tmp_path):
    from dagster_project.quality.gate import run_gate
    from tests.test_quality_gate import APR, DECL, FEB, JAN, MAR, declarations, deliver

    settings = make_settings(tmp_path, CUSTOMS_KPI_KEEP_QUALITY_RUNS="2")
    docs = settings.marts_dir / "quality"

    def check(run_id, months):
        return run_gate(settings, DECL, months, run_id=run_id, data_docs=True)

    for month in (JAN, FEB, MAR):
        deliver(
            settings, DECL, month, declarations(month, 60)
        )  # above the 50-row floor of the row-count band
    assert check("r1-passed", [JAN, FEB]).passed
    assert check("r2-passed", [MAR]).passed
    for i in range(3, 6):  # April keeps failing: too few rows
        deliver(settings, DECL, APR, declarations(APR, 3), name=f"try{i}.csv")
        assert not check(f"r{i}-failed", [APR]).passed
    assert sorted(p.name for p in docs.iterdir()) == [
        "r1-passed",
        "r2-passed",
        "r4-failed",
        "r5-failed",
    ]

    deliver(settings, DECL, FEB, declarations(FEB, 60), name="again.csv")  # February checked anew
    outcome = check("r6-passed", [FEB])  # April, still failing, is checked again too
    assert [(m.month, m.result) for m in outcome.months] == [(FEB, "passed"), (APR, "failed")]
    # r1 still shows January's check; February's is now r6's; r4 falls out of the newest two
    assert sorted(p.name for p in docs.iterdir()) == [
        "r1-passed",
        "r2-passed",
        "r5-failed",
        "r6-passed",
    ]


def test_the_delivery_sensor_waits_while_a_run_holds_the_lock(tmp_path):
    from dagster import DagsterInstance, build_sensor_context

    from dagster_project.jobs import build_monthly_pipeline
    from dagster_project.operations.sensors import build_raw_delivery_sensor
    from dagster_project.partitions import monthly_partitions
    from dagster_project.runtime import patched_environ

    settings = make_settings(
        tmp_path, CUSTOMS_KPI_SETTLE_SECONDS="0"
    )  # settling: tests/test_deliveries.py
    partitions = monthly_partitions(settings.first_month)
    raw_delivery_sensor = build_raw_delivery_sensor(build_monthly_pipeline(partitions), partitions)
    generate(
        settings.raw_dir, "2024-06", "2024-06", declarations_per_month=20, seed=3, tz=settings.tz
    )

    def evaluate(cursor):
        with patched_environ(settings.as_env()):
            return raw_delivery_sensor(
                build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor)
            )

    with run_lock(settings, "busy-run"):
        waiting = evaluate(None)
    assert "another run is in progress (run busy-run" in waiting.skip_message
    assert [r.partition_key for r in evaluate(None).run_requests] == [
        "2024-06-01"
    ]  # once it is free


def test_the_root_cause_is_found_through_causes_and_handled_errors():
    from dagster._utils.error import serializable_error_info_from_exc_info

    from dagster_project.operations.alerts import root_cause

    def failing():
        try:
            raise OSError(28, "No space left on device", "/data/work/warehouse.duckdb.wal")
        except OSError:
            raise RuntimeError("cannot rollback - no transaction is active")  # masks the first

    try:
        try:
            failing()
        except RuntimeError as exc:
            raise ValueError('Error occurred while executing op "raw__declarations":') from exc
    except ValueError:
        info = serializable_error_info_from_exc_info(sys.exc_info())
    assert (
        root_cause(info) == "No space left on device while writing /data/work/warehouse.duckdb.wal"
    )
