"""A smoke run of the benchmark script at a tiny size: it must run every measurement, print the
figures and ratios, and the three ways of computing the TRS mart must agree. No timing is
asserted here: `make bench` measures (see bench/README.md)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke_runs_all_measurements_and_the_marts_agree(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench.py"),
            "--declarations",
            "400",
            "--repeat",
            "1",
            "--months-loaded",
            "0,1",
            "--history-declarations",
            "400",
            "--clean",
            "--work-dir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for line in (
        "(a) floor",
        "(b) project",
        "(c) pandas",
        "ratio b/a",
        "ratio c/b",
        "ratio history N=1 / N=0: time",
        "add month 2 with 1 loaded (400/month)",
        "peak RSS of the project run",
        "phases of the project runs",
    ):
        assert line in proc.stdout, proc.stdout
    figures = json.loads(out.read_text())
    for name in ("floor", "project", "pandas"):
        assert figures["measures"][name]["median"] > 0
        assert (
            figures["measures"][name]["peak_rss"] > 10 * 2**20
        )  # a Python process holds more than 10 MiB
    assert set(figures["history"]) == {"0", "1"}
    # N = 0 is the first month on an empty warehouse, no backfill; N = 1 follows on from it
    assert (
        figures["history"]["0"]["backfill"] is None and figures["history"]["1"]["backfill"] is None
    )
    # every project run is split into its phases, each with its time and the memory it peaked at
    (run,) = figures["measures"]["project"]["samples"]
    assert {"start-up", "load", "checks", "dbt", "publish", "report"} <= set(run["phases"])
    for name in ("start-up", "load", "checks", "dbt", "publish", "report"):
        assert any(line.startswith(name) for line in proc.stdout.splitlines()), name
    for phase in run["phases"].values():
        assert phase["seconds"] >= 0 and phase["peak_rss"] > 10 * 2**20
    assert sum(p["seconds"] for p in run["phases"].values()) <= run["seconds"] + 1
    # On clean data the floor, the project and pandas compute the same mart.
    marts = figures["marts"]
    assert marts["floor"] == marts["project"] == marts["pandas"], marts
    assert marts["project"]["declarations"] == 400
    assert marts["matched_cells"] == marts["project"]["cells"]
    assert marts["largest_difference"] < 1e-9


def run_bench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench.py"), "--work-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_default_history_fits_in_closed_months_and_a_longer_one_is_refused_at_once(tmp_path):
    """Found running `--months-loaded 0,24`: the history started in 2025-01, so its 25th month
    was not closed yet, and the run failed after generating and backfilling 24 months."""
    from datetime import date

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    today = date.today()
    assert bench.month_label(24) < f"{today:%Y-%m}"  # the default list's last month is closed
    too_many = (today.year - bench.FIRST_MONTH.year) * 12 + today.month - bench.FIRST_MONTH.month
    proc = run_bench(tmp_path, "--months-loaded", f"0,{too_many}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--months-loaded" in proc.stderr and "not closed" in proc.stderr
    assert not any(tmp_path.iterdir())  # refused before generating anything
