"""The benchmark behind `make bench`: the project against bare DuckDB and pandas.

It generates months of N declarations (with every other feed to match), then
measures on the same files, each run in its own process:

  (a) floor   bench/floor_duckdb.py: a bare DuckDB script, CSV -> table -> TRS mart
  (b) project `customs-kpi run` on a fresh data dir holding that month:
              load with row checks, quality gate, dbt build, publish, report
  (c) pandas  bench/pandas_trs.py: the same mart as an analyst would write it

and the incremental cost: with N months already loaded (one backfill run, not
timed), the time of `customs-kpi run --from M --to M` for the month after.

Every figure is the median of --repeat runs; peak memory is the largest sum
of resident memory over the measured process and its children, sampled every
50 ms. The ratios compare medians measured in this same invocation.

    python bench/bench.py [--declarations 1000000] [--repeat 3] [--incremental 1,12]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIRST_MONTH = date(2025, 1, 1)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    seconds: float
    peak_rss: int  # bytes, process tree


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
    argv: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> Sample:
    """Run argv to completion; wall seconds and the peak RSS of its process tree. Raises on failure."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc.pid))
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
    return Sample(seconds, max(peak, usage.ru_maxrss * 1024))


# ---------------------------------------------------------------- data


def generate(raw: Path, months: int, declarations: int, clean: bool) -> float:
    from dagster_project.generate.synth import generate as synth

    if (raw / ".generator_manifest.json").is_file():
        params = json.loads((raw / ".generator_manifest.json").read_text())["parameters"]
        wanted = dict(
            month_to=month_label(months - 1), declarations_per_month=declarations, dirty=not clean
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
        return run_measured(
            [self.cli, "run"], env=self.project_env(data_dir), log=self.logs / "project.log"
        )

    def incremental(self, raw: Path, loaded: int) -> tuple[Sample, list[Sample]]:
        """Backfill `loaded` months in one run (timed apart), then add the next month, --repeat times."""
        data_dir = fresh_dir(self.work / f"incremental_{loaded}")
        for i in range(loaded):
            link_month(raw, data_dir, month_label(i))
        env = self.project_env(data_dir)
        setup = run_measured(
            [self.cli, "run"], env=env, log=self.logs / f"incremental_{loaded}.log"
        )
        snapshot = fresh_dir(self.work / f"incremental_{loaded}.snapshot")
        state = [p.name for p in data_dir.iterdir() if p.name != "raw"]
        for name in state:
            shutil.copytree(data_dir / name, snapshot / name, symlinks=True)
        new = month_label(loaded)
        samples = []
        for _ in range(self.args.repeat):
            for name in state:
                shutil.rmtree(data_dir / name)
                shutil.copytree(snapshot / name, data_dir / name, symlinks=True)
            link_month(raw, data_dir, new)
            samples.append(
                run_measured(
                    [self.cli, "run", "--from", new, "--to", new],
                    env=env,
                    log=self.logs / f"incremental_{loaded}.log",
                )
            )
            unlink_month(data_dir, new)
        shutil.rmtree(snapshot)
        return setup, samples


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
        description="Benchmark: project vs bare DuckDB vs pandas on one month."
    )
    parser.add_argument(
        "--declarations", type=int, default=1_000_000, help="declarations per month (default 1M)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; figures are medians"
    )
    parser.add_argument(
        "--incremental",
        default="1,12",
        help="N months loaded before timing the next one (comma list; 'none' to skip)",
    )
    parser.add_argument(
        "--incremental-declarations",
        type=int,
        help="declarations per month for the incremental measurement (default: --declarations)",
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

    sys.path.insert(0, str(ROOT))
    bench = Bench(args)
    loads = (
        [] if args.incremental == "none" else sorted({int(n) for n in args.incremental.split(",")})
    )
    inc_size = args.incremental_declarations or args.declarations
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
    months = max(loads) + 1 if loads and inc_size == args.declarations else 1
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

    incremental: dict[int, tuple[Sample, Measure]] = {}
    if loads:
        inc_raw = raw
        if inc_size != args.declarations:
            inc_raw = bench.work / f"raw_{inc_size}"
            generate(inc_raw, max(loads) + 1, inc_size, args.clean)
        for n in loads:
            setup, samples = bench.incremental(inc_raw, n)
            incremental[n] = (setup, Measure(f"add month {n + 1}", samples))
            print(
                f"  incremental N={n}: backfill {setup.seconds:.1f} s, add month {n + 1}: "
                + ", ".join(f"{s.seconds:.2f} s" for s in samples),
                flush=True,
            )

    a, b, c = (measures[k] for k in ("floor", "project", "pandas"))
    print()
    print(f"{'measurement':<44} {'median s':>9} {'peak RSS':>10}")
    print(f"{'(a) floor: bare DuckDB, CSV -> TRS mart':<44} {a.median:9.2f} {gib(a.peak):>10}")
    print(f"{'(b) project: customs-kpi run, one month':<44} {b.median:9.2f} {gib(b.peak):>10}")
    print(f"{'(c) pandas: the same mart':<44} {c.median:9.2f} {gib(c.peak):>10}")
    for n, (setup, m) in incremental.items():
        print(
            f"{f'add month {n + 1} with {n} loaded ({inc_size:,}/month)':<44} {m.median:9.2f} {gib(m.peak):>10}"
        )
    print()
    print(f"ratio b/a (project / floor):  {b.median / a.median:.2f}   (target <= 2.0)")
    print(f"ratio c/b (pandas / project): {c.median / b.median:.2f}")
    if len(incremental) >= 2:
        lo, hi = min(incremental), max(incremental)
        print(
            f"ratio incremental N={hi} / N={lo}: {incremental[hi][1].median / incremental[lo][1].median:.2f}   (target <= 1.2)"
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
                    "incremental": {
                        n: {"setup": asdict(s), "median": m.median, "peak_rss": m.peak}
                        for n, (s, m) in incremental.items()
                    },
                    "ratios": {"b/a": b.median / a.median, "c/b": c.median / b.median},
                    "marts": agreement,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
