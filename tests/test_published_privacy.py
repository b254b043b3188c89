"""Trader identity: keyed pseudonyms in every published table; no key outside the demo, no publish."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys

import duckdb
import pytest

from dagster_project.pipeline import run_pipeline
from dagster_project.publish.pseudonym import (
    MissingSecret,
    demo_key_path,
    pseudonym,
    resolve_secret,
)
from dagster_project.publish.publisher import IDENTITY_FEEDS, open_published
from tests.conftest import make_settings

TEXT_TYPES = ("VARCHAR",)


def raw_trader_ids(settings) -> set[str]:
    with duckdb.connect(str(settings.work_db), read_only=True) as work:
        rows = work.execute(
            "SELECT trader_id FROM raw.declarations UNION SELECT trader_id FROM raw.drawback "
            "UNION SELECT trader_id FROM raw.aeo_register"
        ).fetchall()
    return {r[0] for r in rows if r[0]}


def text_values(con, relation: str) -> dict[str, set[str]]:
    cols = [
        r[0]
        for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        if r[1] in TEXT_TYPES
    ]
    return {
        c: {r[0] for r in con.execute(f'SELECT DISTINCT "{c}" FROM {relation}').fetchall() if r[0]}
        for c in cols
    }


def leaks(values: dict[str, set[str]], ids: set[str]) -> list[str]:
    """Column values equal to, or containing as a whole token, a raw trader id."""
    token = re.compile(r"[0-9A-Za-z_-]+")
    found = []
    for col, vals in values.items():
        for v in vals:
            if v in ids or ids.intersection(token.findall(v)):
                found.append(f"{col}={v[:80]!r}")
    return found


@pytest.mark.slow
def test_no_published_table_or_parquet_file_holds_a_raw_trader_id(bi_world):
    settings = bi_world.settings
    ids = raw_trader_ids(settings)
    assert len(ids) > 20
    with open_published(settings.published_db) as con:
        listed = con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()
        assert len(listed) >= 6
        version = (settings.marts_dir / "parquet").resolve()
        for t, kind in listed:
            assert not leaks(text_values(con, f"marts.{t}"), ids), t
            if kind == "VIEW":  # the evidence views: no Parquet
                continue
            parquet = version / f"{t}.parquet"
            source = (
                f"read_parquet('{parquet}')"
                if parquet.is_file()
                else f"read_parquet('{version / t}/*/*.parquet')"
            )
            assert not leaks(text_values(con, source), ids), t
    # the report (with its explanation pages) and the data dictionary are published too
    for page in [
        *(settings.marts_dir / "report").rglob("*.html"),
        settings.marts_dir / "docs" / "catalog.json",
    ]:
        text = page.read_text(encoding="utf-8")
        assert not ids.intersection(re.findall(r"[0-9A-Za-z_-]+", text)), page.name


@pytest.mark.slow
def test_trader_ids_are_hmac_pseudonyms_under_the_configured_key(bi_world):
    settings = bi_world.settings
    with duckdb.connect(str(settings.work_db), read_only=True) as work:
        raw = dict(
            work.execute("SELECT declaration_id, trader_id FROM raw.declarations").fetchall()
        )
    with open_published(settings.published_db) as con:
        published = dict(
            con.execute("SELECT declaration_id, trader_id FROM marts.fct_declarations").fetchall()
        )
    assert published and set(published) <= set(raw)
    assert all(published[d] == pseudonym(settings.secret, raw[d]) for d in published)
    # one trader, one pseudonym: the mapping keeps counts per trader intact
    assert len(set(published.values())) == len({raw[d] for d in published})


@pytest.mark.slow
def test_rejected_lines_of_feeds_with_trader_identity_are_withheld(bi_world):
    with open_published(bi_world.settings.published_db) as con:
        rows = con.execute(
            "SELECT feed, raw_text IS NULL, count(*) FROM marts.load_rejects GROUP BY ALL"
        ).fetchall()
    by_feed = {(feed, withheld): n for feed, withheld, n in rows}
    assert any(feed in IDENTITY_FEEDS for feed, _ in by_feed), rows  # the sample has such rejects
    for (feed, withheld), n in by_feed.items():
        assert withheld == (feed in IDENTITY_FEEDS), (feed, withheld, n)


def test_secret_policy(tmp_path):
    strict = make_settings(tmp_path, CUSTOMS_KPI_SECRET="")
    assert strict.secret is None and not strict.demo
    with pytest.raises(MissingSecret, match="CUSTOMS_KPI_SECRET is not set"):
        resolve_secret(strict)
    assert not demo_key_path(strict).exists()

    demo = make_settings(tmp_path, CUSTOMS_KPI_SECRET="", CUSTOMS_KPI_DEMO="1")
    key, source = resolve_secret(demo)
    path = demo_key_path(demo)
    assert path.is_file() and path.is_relative_to(demo.data_dir) and "demo" in source
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret(demo)[0] == key  # kept, so pseudonyms are stable across demo runs

    configured = make_settings(tmp_path, CUSTOMS_KPI_SECRET="k", CUSTOMS_KPI_DEMO="1")
    assert resolve_secret(configured) == ("k", "CUSTOMS_KPI_SECRET")  # an explicit key always wins


def _one_month(tmp_path, **env):
    from dagster_project.generate.synth import generate

    settings = make_settings(tmp_path, CUSTOMS_KPI_SECRET="", **env)
    generate(settings.raw_dir, "2024-06", "2024-06", declarations_per_month=50, seed=3, tz="UTC")
    return settings


def test_a_run_without_secret_outside_the_demo_fails_clearly_and_publishes_nothing(tmp_path):
    settings = _one_month(tmp_path)
    out = io.StringIO()
    outcome = run_pipeline(settings, out=out)
    assert not outcome.success
    assert len(outcome.failures) == 1 and "CUSTOMS_KPI_SECRET is not set" in outcome.failures[0]
    assert "CUSTOMS_KPI_DEMO=1" in outcome.failures[0]
    assert "nothing published" in out.getvalue()
    assert not settings.marts_dir.exists() or not any(settings.marts_dir.iterdir())
    assert not settings.work_db.exists()  # refused before loading anything

    # the command line says so on stderr, with a non-zero exit status
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMS_KPI_")}
    env.update({k: v for k, v in settings.as_env().items() if k != "CUSTOMS_KPI_SECRET"})
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "customs-kpi"), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "error: CUSTOMS_KPI_SECRET is not set" in proc.stderr
    assert not settings.published_db.exists()


def test_the_publish_step_itself_refuses_without_a_secret(tmp_path, monkeypatch):
    """Runs started by the schedule, a sensor or the UI do not go through run_pipeline."""
    from dagster import DagsterInstance, materialize

    from dagster_project.assets.publish import build_publish_asset
    from dagster_project.partitions import monthly_partitions
    from dagster_project.warehouse.resource import WarehouseResource

    settings = _one_month(tmp_path)
    for k in [k for k in os.environ if k.startswith("CUSTOMS_KPI_")]:
        monkeypatch.delenv(k)
    for k, v in settings.as_env().items():
        if k != "CUSTOMS_KPI_SECRET":
            monkeypatch.setenv(k, v)
    result = materialize(
        [build_publish_asset([], monthly_partitions(settings.first_month))],
        partition_key="2024-06-01",
        instance=DagsterInstance.ephemeral(),
        resources={"warehouse": WarehouseResource()},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "CUSTOMS_KPI_SECRET is not set" in str(failure.step_failure_data.error.message) + str(
        failure.step_failure_data.user_failure_data
    )
    assert not settings.published_db.exists()


def test_the_leak_detector_finds_ids_in_values_and_inside_raw_lines():
    ids = {"000123", "T-77"}
    assert leaks({"trader_id": {"000123"}}, ids) == ["trader_id='000123'"]
    assert leaks({"raw_text": {"D1;IM;000123;KZ"}}, ids)
    assert not leaks({"raw_text": {"D1;IM;0001234;KZ"}, "trader_id": {"9f86d081884c7d65"}}, ids)
