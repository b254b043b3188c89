"""No clear-text trader id leaves the work database: not in Dagster's run storage, logs, alerts or
published files, even when rows are rejected and the quality gate fails with samples of them.

One real `customs-kpi run -v` on generated data where a declarations month carries many rejected rows
(the gate fails on its rejected share), then every byte under DAGSTER_HOME, the alert log, the CLI's
output and every published file is searched for the raw files' trader ids.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from dagster_project.generate.synth import generate
from dagster_project.publish.publisher import IDENTITY_FEEDS
from tests.conftest import CLI, make_settings

pytestmark = pytest.mark.slow

MONTHS = ("2024-06", "2024-07")


def raw_trader_ids(raw_dir: Path) -> set[str]:
    """Every trader id of the identity feeds' raw files (CSV, gzip or Parquet), as delivered."""
    ids: set[str] = set()
    con = duckdb.connect()
    for feed in IDENTITY_FEEDS:
        for path in sorted((raw_dir / feed).rglob("*")):
            if not path.is_file():
                continue
            if path.name.endswith(".parquet"):
                rel = f"read_parquet('{path}')"
            else:
                rel = (
                    f"read_csv('{path}', all_varchar = true, header = true, normalize_names = true)"
                )
            cols = {
                r[0].lower(): r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
            }
            name = next(
                (v for k, v in cols.items() if k.strip("\ufeff").endswith("trader_id")), None
            )
            assert name, f"no trader id column in {path}"
            ids |= {
                str(r[0]).strip()
                for r in con.execute(f'SELECT DISTINCT "{name}" FROM {rel}').fetchall()
                if r[0] is not None and len(str(r[0]).strip()) >= 6
            }
    return ids


def reject_many_declarations(raw_dir: Path, month: str) -> None:
    """Append copies of the month's declarations with an unknown declaration type: the loader rejects
    them (their text keeps the trader id) and the rejected share fails the quality suite."""
    (path,) = (raw_dir / "declarations" / month).glob("*.csv")
    text = path.read_text(encoding="utf-8-sig")
    header, *lines = [x for x in text.splitlines() if x]
    sep = ";" if header.count(";") > header.count(",") else ","
    cols = [c.strip().lower() for c in header.split(sep)]
    at_type, at_id = cols.index("declaration_type"), cols.index("declaration_id")
    extra = []
    for i, line in enumerate(lines[:60]):
        fields = line.split(sep)
        fields[at_type], fields[at_id] = "XX", f"BAD-{i:05d}"
        extra.append(sep.join(fields))
    path.write_text("\ufeff" + "\n".join([header, *lines, *extra]) + "\n", encoding="utf-8")


def files_under(*roots: Path) -> list[Path]:
    return [
        p
        for root in roots
        if root.exists()
        for p in ([root] if root.is_file() else root.rglob("*"))
        if p.is_file()
    ]


def found_in(
    paths: list[Path], ids: set[str], extra: dict[str, bytes] | None = None
) -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    blobs = {str(p): p.read_bytes() for p in paths} | (extra or {})
    for name, data in blobs.items():
        got = {i for i in ids if i.encode() in data}
        if got:
            hits[name] = got
    return hits


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("privacy")
    settings = make_settings(data)
    generate(
        settings.raw_dir, MONTHS[0], MONTHS[1], declarations_per_month=150, seed=11, tz=settings.tz
    )
    reject_many_declarations(settings.raw_dir, MONTHS[1])
    ids = raw_trader_ids(settings.raw_dir)
    env = {**os.environ, **settings.as_env()}
    proc = subprocess.run([str(CLI), "run", "-v"], env=env, capture_output=True, timeout=900)
    return settings, ids, proc


def test_the_quality_gate_failed_on_rejected_rows_with_trader_ids(failed_run):
    settings, ids, proc = failed_run
    assert proc.returncode == 1, proc.stdout.decode() + proc.stderr.decode()
    assert b"reject_share" in proc.stderr
    # the grep works: the ids are where they belong, in the work database's raw text of rejected rows
    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        texts = " ".join(
            r[0]
            for r in con.execute(
                "SELECT raw_text FROM raw.rejects WHERE feed = 'declarations' AND raw_text IS NOT NULL"
            ).fetchall()
        )
    assert len(ids) > 50 and sum(i in texts for i in ids) > 10
    assert found_in([settings.work_db], ids)


def test_no_trader_id_in_dagster_home(failed_run):
    settings, ids, _ = failed_run
    paths = files_under(settings.dagster_home_dir)
    assert any(p.suffix == ".db" for p in paths)
    assert found_in(paths, ids) == {}


def test_no_trader_id_in_the_quality_check_metadata(failed_run):
    """The failed check's samples are there, with the rejected rows' text blanked."""
    from dagster import AssetKey, DagsterEventType, DagsterInstance

    settings, _, _ = failed_run
    with DagsterInstance.from_config(str(settings.dagster_home_dir)) as instance:
        (run,) = instance.get_runs()
        records = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        failed = [r.dagster_event.event_specific_data for r in records]
        failed = [
            e
            for e in failed
            if not e.passed
            and e.asset_key == AssetKey(["raw", "declarations"])
            and e.check_name == "quality"
        ]
    assert failed
    findings = failed[0].metadata["failed_expectations"].value
    (share,) = [f for f in findings if f["expectation"] == "reject_share"]
    assert share["sample"] and all(s["raw_text"] is None and s["reason"] for s in share["sample"])


def test_no_trader_id_in_alerts_output_or_published_files(failed_run):
    settings, ids, proc = failed_run
    alerts = settings.data_dir / "logs" / "alerts.log"
    assert alerts.is_file()
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr}
    assert found_in([alerts, *files_under(settings.marts_dir)], ids, outputs) == {}


def test_samples_carry_pseudonyms_not_trader_ids():
    from dagster_project.contract import feed_by_name
    from dagster_project.publish.pseudonym import pseudonym
    from dagster_project.quality.compute import without_identity

    rows = [{"_line": 2, "trader_id": "012345678", "raw_text": "D1;IM;012345678"}]
    (decl,) = without_identity(feed_by_name("declarations"), [dict(r) for r in rows], "k")
    assert decl == {"_line": 2, "trader_id": pseudonym("k", "012345678"), "raw_text": None}
    (blank,) = without_identity(feed_by_name("declarations"), [dict(r) for r in rows], None)
    assert blank["trader_id"] is None
    (ticket,) = without_identity(feed_by_name("tickets"), [{"raw_text": "T1;open"}], "k")
    assert ticket == {"raw_text": "T1;open"}  # no trader identity in that feed: the text stays
