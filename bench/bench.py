"""The benchmark behind `make bench`: the project against bare DuckDB and pandas.

It generates months of N declarations (with every other feed to match), then
measures on the same files, each run in its own process:

  (a) floor   bench/floor_duckdb.py: a bare DuckDB script, CSV -> table -> TRS mart
  (b) project `customs-kpi run` on a fresh data dir holding that month:
              load with row checks, quality gate, dbt build, publish, report
  (c) pandas  bench/pandas_trs.py: the same mart as an analyst would write it

and the cost of history: with N months already loaded (backfill runs, timed
apart), the time and memory of `customs-kpi run --from M --to M` for the month
after, against N = 0 (the first month on an empty warehouse).

Every figure is the median of --repeat runs; peak memory is the largest sum
of resident memory over the measured process and its children, sampled every
50 ms, also per step of the project's run (Dagster's step events tell which
samples belong to which step). The ratios compare medians measured in this
same invocation.

    python bench/bench.py [--declarations 1000000] [--repeat 3] [--months-loaded 0,1,6,24]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Far enough back that the default history (N up to 24: 25 months) ends in a closed month.
FIRST_MONTH = date(2022, 1, 1)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    seconds: float
    peak_rss: int  # bytes, process tree
    # the project's runs: per phase of the Dagster run, {"seconds": ..., "peak_rss": ...}
    phases: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Measure:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak(self) -> int:
        return max(s.peak_rss for s in self.samples)

    def phase_median(self, phase: str) -> float:
        return statistics.median(s.phases.get(phase, {}).get("seconds", 0.0) for s in self.samples)

    def phase_peak(self, phase: str) -> int:
        return int(max(s.phases.get(phase, {}).get("peak_rss", 0) for s in self.samples))


# The phases of a project run, from its Dagster step keys (in run order); "start-up" is the time
# before the first step (imports, the asset graph, the run record), "finish" after the last.
PHASES = ("start-up", "load", "checks", "dbt", "publish", "report", "finish")


def phase_of(step_key: str) -> str:
    if step_key == "customs_dbt_models":
        return "dbt"
    if step_key == "published_warehouse":
        return "publish"
    if step_key.startswith("raw__"):
        checks = ("_quality", "_rows_balance", "_delivery_freshness")
        return "checks" if step_key.endswith(checks) else "load"
    return "report"  # the data dictionary, the scorecard report and its check


def month_label(index: int) -> str:
    """YYYY-MM of the index-th month (0-based) after FIRST_MONTH."""
    y, m = divmod(FIRST_MONTH.year * 12 + FIRST_MONTH.month - 1 + index, 12)
    return f"{y:04d}-{m + 1:02d}"


# ---------------------------------------------------------------- measuring


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            with open(f"/proc/{entry.name}/statm", "rb") as fh:
                resident = int(fh.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        pid = int(entry.name)
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = resident
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    dagster_home: Path | None = None,
) -> Sample:
    """Run argv to completion; wall seconds and the peak RSS of its process tree (per phase of
    its Dagster run, when it is a project run recorded in `dagster_home`). Raises on failure."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    series: list[tuple[float, int]] = []  # (epoch seconds, bytes)
    try:
        began = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                rss = _tree_rss(proc.pid)
                series.append((time.time(), rss))
                peak = max(peak, rss)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}" + (f"; see {log}" if log else "")
        )
    ended = began + seconds
    phases = run_phases(dagster_home, began, ended, series) if dagster_home else {}
    return Sample(seconds, max(peak, usage.ru_maxrss * 1024), phases)


def step_windows(dagster_home: Path, since: float) -> list[tuple[str, float, float]]:
    """(step key, start, end) in epoch seconds of the newest Dagster run started after `since`,
    read from its event log (the SQLite storage of DAGSTER_HOME)."""
    runs = [
        p
        for p in (dagster_home / "history" / "runs").glob("*.db")
        if p.name != "index.db" and p.stat().st_mtime >= since
    ]
    if not runs:
        return []
    newest = max(runs, key=lambda p: p.stat().st_mtime)
    with sqlite3.connect(newest) as con:
        rows = con.execute(
            "SELECT step_key, dagster_event_type, timestamp FROM event_logs "
            "WHERE dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') "
            "ORDER BY id"
        ).fetchall()
    starts: dict[str, float] = {}
    windows = []
    for key, kind, stamp in rows:
        at = datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()
        if kind == "STEP_START":
            starts[key] = at
        elif key in starts:
            windows.append((key, starts.pop(key), at))
    return windows


def run_phases(
    dagster_home: Path, began: float, ended: float, series: list[tuple[float, int]]
) -> dict[str, dict[str, float]]:
    """Seconds and peak RSS per phase (PHASES) of the run measured between began and ended."""
    windows = step_windows(dagster_home, began)
    if not windows:
        return {}
    spans: dict[str, list[tuple[float, float]]] = {p: [] for p in PHASES}
    spans["start-up"].append((began, windows[0][1]))
    for key, start, end in windows:
        spans[phase_of(key)].append((start, end))
    spans["finish"].append((max(end for _, _, end in windows), ended))
    phases = {}
    for name, parts in spans.items():
        if not parts:
            continue
        rss = [r for t, r in series if any(a <= t <= b for a, b in parts)]
        phases[name] = {
            "seconds": sum(b - a for a, b in parts),
            "peak_rss": max(rss, default=0),
        }
    return phases


# ---------------------------------------------------------------- data


def generate(raw: Path, months: int, declarations: int, clean: bool) -> float:
    from dagster_project.generate.synth import generate as synth

    if (raw / ".generator_manifest.json").is_file():
        params = json.loads((raw / ".generator_manifest.json").read_text())["parameters"]
        wanted = dict(
            month_from=month_label(0),
            month_to=month_label(months - 1),
            declarations_per_month=declarations,
            dirty=not clean,
        )
        if all(params.get(k) == v for k, v in wanted.items()):
            return 0.0
    shutil.rmtree(raw, ignore_errors=True)
    start = time.perf_counter()
    synth(
        raw,
        month_label(0),
        month_label(months - 1),
        declarations_per_month=declarations,
        seed=7,
        sample_formats=False,
        dirty=not clean,
    )
    return time.perf_counter() - start


def link_month(raw: Path, data_dir: Path, month: str) -> None:
    """Hard-link one month of every feed into data_dir/raw (same files, no copy)."""
    for feed_dir in sorted(p for p in raw.iterdir() if p.is_dir()):
        src = feed_dir / month
        if not src.is_dir():
            continue
        dst = data_dir / "raw" / feed_dir.name / month
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            os.link(f, dst / f.name)


def unlink_month(data_dir: Path, month: str) -> None:
    for feed_dir in (data_dir / "raw").iterdir():
        shutil.rmtree(feed_dir / month, ignore_errors=True)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------- the three measurements


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(args.work_dir).resolve()
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.python = sys.executable
        self.cli = str(Path(sys.executable).with_name("customs-kpi"))

    def project_env(self, data_dir: Path) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMS_KPI_", "DAGSTER_"))
        }
        env.update(CUSTOMS_KPI_DATA_DIR=str(data_dir), CUSTOMS_KPI_DEMO="1")
        if self.args.threads:
            env["CUSTOMS_KPI_THREADS"] = str(self.args.threads)
        if self.args.memory_limit:
            env["CUSTOMS_KPI_MEMORY_LIMIT"] = self.args.memory_limit
        return env

    def duckdb_flags(self) -> list[str]:
        flags = []
        if self.args.threads:
            flags += ["--threads", str(self.args.threads)]
        if self.args.memory_limit:
            flags += ["--memory-limit", self.args.memory_limit]
        return flags

    def floor(self, raw: Path, month: str) -> Sample:
        out = self.work / "floor.duckdb"
        out.unlink(missing_ok=True)
        argv = [
            self.python,
            str(HERE / "floor_duckdb.py"),
            str(raw),
            month,
            str(out),
            *self.duckdb_flags(),
        ]
        return run_measured(argv, log=self.logs / "floor.log")

    def pandas(self, raw: Path, month: str) -> Sample:
        out = self.work / "pandas_trs.parquet"
        out.unlink(missing_ok=True)
        return run_measured(
            [self.python, str(HERE / "pandas_trs.py"), str(raw), month, str(out)],
            log=self.logs / "pandas.log",
        )

    def project(self, raw: Path, month: str) -> Sample:
        data_dir = fresh_dir(self.work / "project")
        link_month(raw, data_dir, month)
        return self.run_project(data_dir, [], self.logs / "project.log")

    def run_project(self, data_dir: Path, argv: list[str], log: Path) -> Sample:
        return run_measured(
            [self.cli, "run", *argv],
            env=self.project_env(data_dir),
            log=log,
            dagster_home=data_dir / "dagster_home",
        )

    def history(
        self, raw: Path, loads: list[int], first: Measure | None = None
    ) -> dict[int, tuple[Sample | None, Measure]]:
        """For each N of `loads` (ascending): N months loaded, then the next month added,
        --repeat times from the same saved state. One warehouse grows through the list: the
        state after the last repetition (N + 1 months) is where the backfill to the next N
        starts, and each backfill is one run over the months still missing (timed apart).

        `first`: the (b) runs, when they ran on the files of the history's first month. They
        are N = 0 (the first month on an empty warehouse), so it is not run again: the
        warehouse grows on from the data dir the last of them left."""
        log = self.logs / "history.log"
        results: dict[int, tuple[Sample | None, Measure]] = {}
        loaded = 0
        if first is not None and loads[0] == 0:
            data_dir = self.work / "project"
            results[0] = (None, Measure("add month 1", list(first.samples)))
            loads, loaded = loads[1:], 1
        else:
            data_dir = fresh_dir(self.work / "history")
        for n in loads:
            backfill = None
            if n > loaded:
                for i in range(loaded, n):
                    link_month(raw, data_dir, month_label(i))
                backfill = self.run_project(
                    data_dir, ["--from", month_label(loaded), "--to", month_label(n - 1)], log
                )
            snapshot = fresh_dir(self.work / "history.snapshot")
            for p in data_dir.iterdir():
                if p.name != "raw":
                    shutil.copytree(p, snapshot / p.name, symlinks=True)
            new = month_label(n)
            measure = Measure(f"add month {n + 1}")
            for i in range(self.args.repeat):
                if i:  # back to the saved state
                    unlink_month(data_dir, new)
                    for p in data_dir.iterdir():
                        if p.name != "raw":
                            shutil.rmtree(p)
                    for p in snapshot.iterdir():
                        shutil.copytree(p, data_dir / p.name, symlinks=True)
                link_month(raw, data_dir, new)
                measure.samples.append(
                    self.run_project(data_dir, ["--from", new, "--to", new], log)
                )
            shutil.rmtree(snapshot)
            results[n] = (backfill, measure)
            loaded = n + 1
        return results


def compare_marts(work: Path) -> dict:
    """How far the three TRS marts are apart: cells and declarations of each, and the largest
    difference of any statistic between the floor and the project on the cells both have."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{work / 'floor.duckdb'}' AS floor (READ_ONLY)")
    con.execute(
        f"ATTACH '{work / 'project' / 'marts' / 'warehouse.duckdb'}' AS project (READ_ONLY)"
    )
    keys = "month, declaration_type, transport_mode, is_aeo, final_lane"
    counts = {}
    for name, rel in (
        ("floor", "floor.trs_monthly"),
        ("project", "project.marts.trs_monthly"),
        ("pandas", f"read_parquet('{work / 'pandas_trs.parquet'}')"),
    ):
        cells, declarations = con.execute(
            f"SELECT count(*), sum(declarations) FROM {rel}"
        ).fetchall()[0]
        counts[name] = {"cells": cells, "declarations": int(declarations or 0)}
    stats = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'floor' "
            "AND table_name = 'trs_monthly' AND data_type = 'DOUBLE'"
        ).fetchall()
    ]
    diffs = ", ".join(f"coalesce(abs(f.{c} - p.{c}), 0)" for c in stats)
    same_cell = " AND ".join(
        f"f.{k} IS NOT DISTINCT FROM p.{k}" for k in keys.split(", ")
    )  # null lane = null lane
    largest = con.execute(
        f"SELECT coalesce(max(greatest({diffs})), 0), count(*) FROM floor.trs_monthly f "
        f"JOIN project.marts.trs_monthly p ON {same_cell}"
    ).fetchall()[0]
    return {**counts, "matched_cells": largest[1], "largest_difference": largest[0]}


def describe_marts(agreement: dict) -> str:
    parts = [
        f"{k} {agreement[k]['cells']} cells / {agreement[k]['declarations']:,} declarations"
        for k in ("floor", "project", "pandas")
    ]
    return (
        "; ".join(parts) + f"; floor vs project on {agreement['matched_cells']} common cells: "
        f"largest difference {agreement['largest_difference']:.6g}"
    )


# ---------------------------------------------------------------- report


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def versions() -> str:
    import dagster
    import dbt.version
    import duckdb
    import pandas

    return (
        f"python {platform.python_version()}, duckdb {duckdb.__version__}, dagster {dagster.__version__}, "
        f"dbt-core {dbt.version.__version__}, pandas {pandas.__version__}"
    )


def machine() -> str:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), {gib(mem)} RAM, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark: project vs bare DuckDB vs pandas on one month, and the cost of history."
    )
    parser.add_argument(
        "--declarations", type=int, default=1_000_000, help="declarations per month (default 1M)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; figures are medians"
    )
    parser.add_argument(
        "--months-loaded",
        default="0,1,6,24",
        help="N months loaded before timing the next one (comma list, 0 = an empty warehouse; "
        "'none' to skip)",
    )
    parser.add_argument(
        "--history-declarations",
        type=int,
        default=500_000,
        help="declarations per month for the history measurement (default 500k)",
    )
    parser.add_argument(
        "--threads", type=int, help="DuckDB threads for (a) and (b) (CUSTOMS_KPI_THREADS)"
    )
    parser.add_argument(
        "--memory-limit", help="DuckDB memory_limit for (a) and (b) (CUSTOMS_KPI_MEMORY_LIMIT)"
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="generate without dirty rows (then the three marts must agree exactly)",
    )
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    loads = (
        []
        if args.months_loaded == "none"
        else sorted({int(n) for n in args.months_loaded.split(",")})
    )
    this_month = f"{date.today():%Y-%m}"
    if loads and month_label(loads[-1]) >= this_month:
        parser.error(
            f"--months-loaded {loads[-1]}: the month measured after it, {month_label(loads[-1])}, "
            f"is not closed yet (the history starts in {month_label(0)}; at most "
            f"{(date.today().year - FIRST_MONTH.year) * 12 + date.today().month - FIRST_MONTH.month - 1})"
        )
    sys.path.insert(0, str(ROOT))
    bench = Bench(args)
    hist_size = args.history_declarations
    print(f"machine:  {machine()}")
    print(f"versions: {versions()}")
    print(f"date:     {date.today().isoformat()}")
    print(
        f"size:     {args.declarations:,} declarations per month, {args.repeat} runs per figure"
        + (f", threads {args.threads}" if args.threads else "")
        + (f", memory_limit {args.memory_limit}" if args.memory_limit else ""),
        flush=True,
    )

    raw = bench.work / f"raw_{args.declarations}"
    months = max(loads) + 1 if loads and hist_size == args.declarations else 1
    took = generate(raw, months, args.declarations, args.clean)
    month = month_label(0)
    size = sum(f.stat().st_size for f in (raw / "declarations" / month).iterdir())
    print(
        f"data:     {months} month(s) in {raw} ({'generated in %.0f s' % took if took else 'reused'}); "
        f"declarations CSV of {month}: {size / 2**20:.0f} MiB",
        flush=True,
    )

    measures = {k: Measure(k) for k in ("floor", "project", "pandas")}
    for i in range(args.repeat):
        for name, fn in (
            ("floor", bench.floor),
            ("project", bench.project),
            ("pandas", bench.pandas),
        ):
            sample = fn(raw, month)
            measures[name].samples.append(sample)
            print(
                f"  run {i + 1}/{args.repeat} {name:<8} {sample.seconds:8.2f} s  {gib(sample.peak_rss)}",
                flush=True,
            )
    agreement = compare_marts(bench.work)

    history: dict[int, tuple[Sample | None, Measure]] = {}
    if loads:
        hist_raw = raw
        if hist_size != args.declarations:
            hist_raw = bench.work / f"raw_{hist_size}"
            generate(hist_raw, max(loads) + 1, hist_size, args.clean)
        history = bench.history(
            hist_raw, loads, first=measures["project"] if hist_raw == raw else None
        )
        for n, (backfill, m) in history.items():
            print(
                f"  history N={n}: "
                + (f"backfill {backfill.seconds:.1f} s, " if backfill else "")
                + f"add month {n + 1}: "
                + ", ".join(f"{s.seconds:.2f} s" for s in m.samples),
                flush=True,
            )

    a, b, c = (measures[k] for k in ("floor", "project", "pandas"))
    print()
    print(table(a, b, c, history, hist_size))
    print()
    print(f"ratio b/a (project / floor):  {b.median / a.median:.2f}   (target <= 3.0, goal 2.0)")
    print(f"ratio c/b (pandas / project): {c.median / b.median:.2f}")
    base = history.get(0)
    for n, (_, m) in history.items():
        if base and n:
            print(
                f"ratio history N={n} / N=0: time {m.median / base[1].median:.2f}, "
                f"peak RSS {m.peak / base[1].peak:.2f}   (target <= 1.25)"
            )
    print(f"peak RSS of the project run: {gib(b.peak)}   (target <= 4 GiB)")
    print(f"marts: {describe_marts(agreement)}")

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "declarations": args.declarations,
                    "repeat": args.repeat,
                    "machine": machine(),
                    "versions": versions(),
                    "measures": {
                        k: {
                            "median": m.median,
                            "peak_rss": m.peak,
                            "samples": [asdict(s) for s in m.samples],
                        }
                        for k, m in measures.items()
                    },
                    "history": {
                        n: {
                            "declarations": hist_size,
                            "backfill": asdict(s) if s else None,
                            "median": m.median,
                            "peak_rss": m.peak,
                            "samples": [asdict(x) for x in m.samples],
                        }
                        for n, (s, m) in history.items()
                    },
                    "ratios": {"b/a": b.median / a.median, "c/b": c.median / b.median},
                    "marts": agreement,
                },
                indent=2,
            )
        )
    return 0


def table(a: Measure, b: Measure, c: Measure, history: dict, hist_size: int) -> str:
    """The one-screen summary: each measurement's median and peak, then the project runs' phases
    (median seconds and peak RSS of each phase, per measurement)."""
    rows = [
        ("(a) floor: bare DuckDB, CSV -> TRS mart", a),
        ("(b) project: customs-kpi run, one month", b),
        ("(c) pandas: the same mart", c),
        *(
            (f"add month {n + 1} with {n} loaded ({hist_size:,}/month)", m)
            for n, (_, m) in history.items()
        ),
    ]
    lines = [f"{'measurement':<52} {'median s':>9} {'peak RSS':>10}"]
    lines += [f"{name:<52} {m.median:9.2f} {gib(m.peak):>10}" for name, m in rows]
    runs = [("(b)", b), *((f"N={n}", m) for n, (_, m) in history.items())]
    lines += ["", "phases of the project runs: median seconds / peak RSS"]
    lines.append(f"{'phase':<10}" + "".join(f"{label:>17}" for label, _ in runs))
    for phase in PHASES:
        cells = "".join(
            f"{m.phase_median(phase):8.1f} s {m.phase_peak(phase) / 2**30:4.2f} G" for _, m in runs
        )
        lines.append(f"{phase:<10}{cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
