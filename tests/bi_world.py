"""One real publish watched by real read-only clients, shared by the analyst-facing tests.

The session fixture `bi_world`:

1. generates two months (2024-06, 2024-07) of synthetic extracts, puts only
   2024-06 in the raw folder and runs the pipeline once (in process);
2. starts five readers of `marts/warehouse.duckdb`, all read-only, querying
   the per-month row counts of `marts.kpi_monthly` in a loop:
   the DuckDB 1.5 CLI (a new process per query, and one session held open)
   and SQLAlchemy + duckdb_engine configured with the Superset connection
   strings that docs/bi.md documents, read from the page itself (a new
   connection per query with each of its two read-only forms, and one
   connection held open), each in its own process as BI tools would be; the
   SQLAlchemy readers also try a write on every connection;
3. drops 2024-07 into the raw folder and runs `customs-kpi run` as a
   subprocess, which publishes the new month while the readers read;
4. lets every reader query again after the run ended, then stops them.

Tests assert on what each reader saw; the others use the final state
(both months published, the report and the data dictionary beside them).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dagster_project.settings import Settings

MONTHS = ("2024-06", "2024-07")
READER_SCRIPT = Path(__file__).with_name("bi_reader.py")
BI_DOC = Path(__file__).parents[1] / "docs" / "bi.md"
DOC_DB = "/srv/customs/data/marts/warehouse.duckdb"  # the example path docs/bi.md uses
# A fenced block that the tests read is preceded by `<!-- tested: NAME ... -->`.
_TESTED_BLOCK = re.compile(
    r"^<!--\s*tested:\s*([\w-]+)[^\n]*-->\n```[\w-]*\n(.*?)\n```$", re.M | re.S
)
# Superset's two read-only forms: (block holding the URI, block holding the engine parameters or None).
SUPERSET_FORMS = {
    "uri": ("superset-uri", None),
    "engine-params": ("superset-plain-uri", "superset-engine-params"),
}
QUERY = (
    "SELECT strftime(month, '%Y-%m') AS month, count(*) AS kpi_rows, "
    "(SELECT count(*) FROM marts.kpi_catalog) AS catalog_rows "
    "FROM marts.kpi_monthly GROUP BY 1 ORDER BY 1"
)
RUN_TIMEOUT = 600
SETTLE_TIMEOUT = 90
PAUSE = 0.25


def duckdb_cli() -> str:
    """The DuckDB 1.5 CLI binary that the PyPI package `duckdb-cli` ships inside itself."""
    spec = importlib.util.find_spec("duckdb_cli")
    if spec is None or spec.origin is None:
        raise RuntimeError("duckdb-cli is not installed (test extra): run `make install`")
    exe = Path(spec.origin).with_name("duckdb")
    if not exe.is_file():
        raise RuntimeError(f"duckdb-cli has no bundled binary at {exe}")
    return str(exe)


def cli_query(db: Path, sql: str, *, timeout: float = 60) -> list[list[str]]:
    """Run one query in a new read-only DuckDB 1.5 CLI process; rows as CSV fields."""
    proc = subprocess.run(
        [duckdb_cli(), "-readonly", "-csv", "-noheader", str(db), "-c", sql],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 or proc.stderr.strip():
        raise RuntimeError(
            f"duckdb CLI exit {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return [row for row in csv.reader(io.StringIO(proc.stdout)) if row]


def documented_blocks(doc: Path = BI_DOC) -> dict[str, str]:
    """The fenced blocks of `doc` marked `<!-- tested: NAME -->`, by name."""
    blocks: dict[str, str] = {}
    for name, body in _TESTED_BLOCK.findall(doc.read_text(encoding="utf-8")):
        if name in blocks:
            raise ValueError(f"{doc}: two blocks marked 'tested: {name}'")
        blocks[name] = body.strip()
    return blocks


def superset_connection(form: str, db: Path, doc: Path = BI_DOC) -> tuple[str, str]:
    """(SQLAlchemy URL, engine parameters as JSON) of a Superset form of `doc`, pointed at `db`."""
    url_block, params_block = SUPERSET_FORMS[form]
    blocks = documented_blocks(doc)
    for name in filter(None, (url_block, params_block)):
        if name not in blocks:
            raise ValueError(f"{doc}: no fenced block marked '<!-- tested: {name} -->'")
    url = blocks[url_block]
    if DOC_DB not in url or "\n" in url:
        raise ValueError(f"{doc}: block '{url_block}' is not one URI on {DOC_DB}: {url!r}")
    params = blocks[params_block] if params_block else "{}"
    json.loads(params)  # a JSON error here names the block's text
    return url.replace(DOC_DB, str(db)), params


def reader_command(db: Path, form: str, *, held: bool, args: tuple[str, ...] = ()) -> list[str]:
    """The command line of a tests/bi_reader.py process using Superset form `form` of docs/bi.md."""
    url, params = superset_connection(form, db)
    return [
        sys.executable,
        str(READER_SCRIPT),
        "--url",
        url,
        "--engine-params",
        params,
        "--mode",
        "held" if held else "fresh",
        *args,
    ]


def _rows(fields: list[list[str]]) -> list[list]:
    return [[m, int(a), int(b)] for m, a, b in fields]


@dataclass
class Reader:
    name: str
    client: str  # "duckdb-cli 1.5" or "sqlalchemy"
    held: bool  # one connection for the whole loop
    form: str | None = None  # sqlalchemy: the Superset form of docs/bi.md (SUPERSET_FORMS)
    observations: list[dict] = field(default_factory=list)
    thread: threading.Thread | None = None
    proc: subprocess.Popen | None = None

    def seen_after(self, t: float) -> int:
        return sum(1 for o in self.observations if o["t"] > t)


def _cli_fresh_loop(reader: Reader, db: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.time()
        try:
            reader.observations.append({"t": started, "rows": _rows(cli_query(db, QUERY))})
        except Exception as exc:  # recorded: the test counts failures
            reader.observations.append({"t": started, "error": f"{type(exc).__name__}: {exc}"})
        stop.wait(PAUSE)


def _cli_held_loop(reader: Reader, db: Path, stop: threading.Event) -> None:
    """One interactive CLI session kept open; a pty makes it flush each result."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [duckdb_cli(), "-readonly", "-csv", "-noheader", str(db)],
        stdin=subprocess.PIPE,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    reader.proc = proc
    try:
        while not stop.is_set():
            started = time.time()
            proc.stdin.write(f"{QUERY};\n.print __END__\n".encode())
            proc.stdin.flush()
            buf, deadline = b"", time.monotonic() + 30
            while b"__END__" not in buf and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 1)
                if ready:
                    buf += os.read(master, 65536)
            text = buf.decode(errors="replace").replace("\r", "")
            body = text.split("__END__")[0]
            try:
                if "__END__" not in text or "Error" in body:
                    raise RuntimeError(body.strip() or "no answer from the held CLI session")
                rows = [r for r in csv.reader(io.StringIO(body)) if r]
                reader.observations.append({"t": started, "rows": _rows(rows)})
            except Exception as exc:
                reader.observations.append({"t": started, "error": f"{type(exc).__name__}: {exc}"})
            stop.wait(PAUSE)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        os.close(master)


def _python_reader(reader: Reader, command: list[str]) -> None:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader.proc = proc
    for line in proc.stdout:
        if line.strip():
            reader.observations.append(json.loads(line))
    proc.wait()
    if proc.returncode:
        reader.observations.append(
            {"t": time.time(), "error": f"reader exited {proc.returncode}: {proc.stderr.read()}"}
        )


def _wait(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@dataclass
class BiWorld:
    settings: Settings
    run: subprocess.CompletedProcess
    run_started: float
    run_ended: float
    readers: list[Reader]
    catalog_size: int
    screenshots: Path

    def state(self, months: tuple[str, ...]) -> list[list]:
        return [[m, self.catalog_size, self.catalog_size] for m in months]


def _copy_month(src_raw: Path, dst_raw: Path, month: str) -> None:
    for feed_dir in sorted(p for p in src_raw.iterdir() if p.is_dir()):
        if (feed_dir / month).is_dir():
            shutil.copytree(feed_dir / month, dst_raw / feed_dir.name / month)


def build_bi_world(tmp_path_factory) -> BiWorld:
    from dagster_project.generate.synth import generate
    from dagster_project.pipeline import run_pipeline
    from dagster_project.publish.publisher import open_published
    from tests.conftest import CLI, make_settings

    data = tmp_path_factory.mktemp("bi")
    settings = make_settings(data)
    incoming = data / "incoming"
    generate(incoming, MONTHS[0], MONTHS[1], declarations_per_month=300, seed=7, tz=settings.tz)
    _copy_month(incoming, settings.raw_dir, MONTHS[0])
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert outcome.success, (outcome.failures, out.getvalue())
    with open_published(settings.published_db) as con:
        catalog_size = con.execute("SELECT count(*) FROM marts.kpi_catalog").fetchall()[0][0]

    db = settings.published_db
    stop, stop_file = threading.Event(), data / "readers.stop"
    readers = [
        Reader("cli-fresh", "duckdb-cli 1.5", held=False),
        Reader("cli-held", "duckdb-cli 1.5", held=True),
        Reader("superset-uri", "sqlalchemy", held=False, form="uri"),
        Reader("superset-engine-params", "sqlalchemy", held=False, form="engine-params"),
        Reader("sqlalchemy-held", "sqlalchemy", held=True, form="engine-params"),
    ]
    targets = {
        "cli-fresh": lambda r: _cli_fresh_loop(r, db, stop),
        "cli-held": lambda r: _cli_held_loop(r, db, stop),
    }
    loop_args = (
        "--probe-write",
        "--stop",
        str(stop_file),
        "--deadline",
        str(RUN_TIMEOUT + 2 * SETTLE_TIMEOUT),
        "--pause",
        str(PAUSE),
    )
    for (
        r
    ) in readers:  # docs/bi.md is read here, before any reader starts: a bad block fails at once
        if r.client == "sqlalchemy":
            command = reader_command(db, r.form, held=r.held, args=loop_args)
            targets[r.name] = lambda r, command=command: _python_reader(r, command)
    for r in readers:
        r.thread = threading.Thread(target=targets[r.name], args=(r,), name=r.name, daemon=True)
        r.thread.start()
    try:
        assert _wait(lambda: all(r.observations for r in readers), SETTLE_TIMEOUT), (
            "a reader never answered"
        )

        _copy_month(incoming, settings.raw_dir, MONTHS[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMS_KPI_")}
        env.update(settings.as_env())
        started = time.time()
        run = subprocess.run(
            [str(CLI), "run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        ended = time.time()
        _wait(lambda: all(r.seen_after(ended) >= 2 for r in readers), SETTLE_TIMEOUT)
    finally:
        stop.set()
        stop_file.touch()
        for r in readers:
            r.thread.join(timeout=60)
            if r.proc is not None and r.proc.poll() is None:
                r.proc.kill()
    shots = data / "screenshots"
    shots.mkdir()
    return BiWorld(settings, run, started, ended, readers, catalog_size, shots)


@pytest.fixture(scope="session")
def bi_world(tmp_path_factory) -> BiWorld:
    return build_bi_world(tmp_path_factory)
