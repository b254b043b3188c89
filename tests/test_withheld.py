"""Withhold, don't block: on the bundled sample, one manual month emptied and one declarations month
re-delivered with a quarter of its rows. Everything else is published as before; the withheld values
are null with their reason in kpi_monthly.quality; the run exits non-zero naming both (real Dagster,
dbt, DuckDB, GX; the scorecard in headless Chromium)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from dagster_project.operations.status import collect_status
from dagster_project.pipeline import run_pipeline
from dagster_project.publish.publisher import open_published
from dagster_project.runtime import patched_environ
from dagster_project.settings import PROJECT_ROOT
from tests.cdp import Chromium
from tests.conftest import make_settings
from tests.evidence_check import recompute_every_kpi

pytestmark = pytest.mark.slow

MAR = date(2025, 3, 1)
SAMPLE = PROJECT_ROOT / "data" / "raw"


def kpis(settings) -> dict[tuple[str, date], tuple]:
    with open_published(settings.published_db) as con:
        return {
            (k, m): (v, n, ytd, status, quality)
            for k, m, v, n, ytd, status, quality in con.execute(
                "SELECT kpi_id, month, value, n, ytd_value, status, quality FROM marts.kpi_monthly"
            ).fetchall()
        }


def month_of(settings, table: str) -> list[tuple]:
    with open_published(settings.published_db) as con:
        return con.execute(
            f"SELECT * FROM marts.{table} WHERE month = ? ORDER BY ALL", [MAR]
        ).fetchall()


def feeds_of(kpi_id: str) -> set[str]:
    import csv

    with (PROJECT_ROOT / "dbt" / "seeds" / "kpi_feeds.csv").open(encoding="utf-8") as fh:
        return {r["feed"] for r in csv.DictReader(fh) if r["kpi_id"] == kpi_id}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("withheld"))
    shutil.copytree(SAMPLE, settings.raw_dir)
    first = run_pipeline(settings, out=io.StringIO())
    assert first.success, first.failures
    # the sample as `make run` publishes it, kept before the faults below
    sample = tmp_path_factory.mktemp("sample") / "warehouse.duckdb"
    shutil.copyfile(settings.published_db, sample)
    before = {
        "kpis": kpis(settings),
        "fct_declarations": month_of(settings, "fct_declarations"),
        "trs_monthly": month_of(settings, "trs_monthly"),
        "published_db": sample,
    }
    # manual: the header only; declarations: a quarter of the rows
    (manual,) = (settings.raw_dir / "manual" / "2025-03").iterdir()
    manual.write_bytes(manual.read_bytes().splitlines(keepends=True)[0])
    (decl,) = (settings.raw_dir / "declarations" / "2025-03").iterdir()
    lines = gzip.decompress(decl.read_bytes()).splitlines(keepends=True)
    decl.write_bytes(gzip.compress(b"".join(lines[: 1 + (len(lines) - 1) // 4])))
    out = io.StringIO()
    # the re-delivery is run as the sensor runs it: for its month (the build still reaches the end)
    outcome = run_pipeline(settings, month_from=MAR, month_to=MAR, out=out)
    return settings, before, outcome, out.getvalue()


def test_the_run_exits_non_zero_naming_each_withheld_feed_month(faulty):
    settings, _, outcome, output = faulty
    assert not outcome.success
    decl = [
        f
        for f in outcome.failures
        if f.startswith(
            "withheld: declarations 2025-03: quality suite failed: row_count_ratio = 0.2"
        )
    ]
    manual = [
        f
        for f in outcome.failures
        if f.startswith(
            "withheld: manual 2025-03: quality suite failed: row_count = 0, expected at least 1"
        )
    ]
    assert len(decl) == 1 and len(manual) == 1, outcome.failures
    assert "time_to_import_aeo" in decl[0] and "advance_rulings" in manual[0]
    assert "published, except the KPI values of" in output
    alerts = (settings.data_dir / "logs" / "alerts.log").read_text(encoding="utf-8")
    assert "withheld: declarations 2025-03" in alerts and "withheld: manual 2025-03" in alerts


def test_withheld_values_are_null_with_their_reason_and_every_other_value_is_as_before(faulty):
    settings, before, _, _ = faulty
    after = kpis(settings)
    assert set(after) == set(before["kpis"])
    withheld = {key: row for key, row in after.items() if row[4] != "ok"}
    assert withheld and all(q.startswith("withheld: ") for *_, q in withheld.values())
    for (kpi_id, month), (value, n, ytd, status, quality) in withheld.items():
        assert (value, n, ytd, status) == (None, None, None, None), (kpi_id, month)
    # what is withheld: the KPIs of March that read the two feeds, and the lane KPIs that read the
    # lanes whose declarations are now missing (their coverage fails too)
    assert after[("advance_rulings", MAR)][4] == "withheld: manual 2025-03 failed row_count"
    assert (
        after[("time_to_import_aeo", MAR)][4]
        == "withheld: declarations 2025-03 failed row_count_ratio"
    )
    assert {m for (_, m) in withheld} <= {date(2025, 2, 1), MAR}
    for kpi_id, month in withheld:
        assert feeds_of(kpi_id) & {"manual", "declarations", "lanes"}, kpi_id
    assert (
        after[("drawback_claims_aeo", MAR)][4] == "ok"
        and after[("sla_timely_processing_rate", MAR)][4] == "ok"
    )
    # every other value of every month, as published before the faulty deliveries
    for key, (value, n, _, _, quality) in after.items():
        if key in withheld:
            continue
        old_value, old_n = before["kpis"][key][:2]
        assert quality == "ok" and n == old_n, key
        assert (value is None) == (old_value is None) and (
            value is None or value == pytest.approx(old_value, rel=1e-9)
        ), key


def test_the_declarations_and_trs_of_the_withheld_month_keep_what_was_published(faulty):
    settings, before, _, _ = faulty
    assert len(before["fct_declarations"]) > 500
    assert month_of(settings, "fct_declarations") == before["fct_declarations"]
    assert month_of(settings, "trs_monthly") == before["trs_monthly"]


def test_every_kpi_of_every_sample_month_is_recomputed_from_its_evidence(faulty):
    """The bundled sample (24 months, dirty rows, mixed formats) as `make run` publishes it: this
    module's first run, before the faults."""
    _, before, *_ = faulty
    published, seen_values = recompute_every_kpi(before["published_db"])
    assert len({m for _, m in published}) == 24
    assert sum(seen_values.values()) > 24 * 30


def test_every_published_value_is_still_its_records_and_a_withheld_one_has_none(faulty):
    settings, *_ = faulty
    published, _ = recompute_every_kpi(settings.published_db)
    assert (None, None) == published[("time_to_import_aeo", MAR)]


def test_status_shows_the_withheld_feed_months(faulty):
    settings, *_ = faulty
    state = {(s.feed, s.month): s for s in collect_status(settings, today=date(2026, 1, 5))}
    assert state[("declarations", MAR)].state == "withheld"
    assert "failed row_count_ratio" in state[("declarations", MAR)].detail
    assert state[("manual", MAR)].state == "withheld"
    assert state[("drawback", MAR)].state == "published"


WITHHELD_JS = """Array.from(document.querySelectorAll('tr.withheld')).map(tr => ({
    id: tr.id, cells: Array.from(tr.querySelectorAll('span.withheld')).map(s => s.getAttribute('title')),
    background: getComputedStyle(tr.querySelector('span.withheld')).backgroundImage,
}))"""


def test_the_scorecard_shows_withheld_cells_with_the_reason_on_hover(faulty):
    settings, *_ = faulty
    page_path = settings.marts_dir / "report" / "2025-03.html"
    with Chromium() as browser:
        page = browser.open(page_path.as_uri())
        rows = page.evaluate(WITHHELD_JS)
        png = page.screenshot()
        visit = page.visit()
    keep = os.environ.get("CUSTOMS_KPI_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "report-withheld-2025-03.png").write_bytes(png)
    assert visit.console_errors == [] and visit.failed_requests == [], visit
    by_id = {r["id"]: r for r in rows}
    assert (
        by_id["kpi-advance_rulings"]["cells"] == ["withheld: manual 2025-03 failed row_count"] * 2
    )
    assert (
        by_id["kpi-time_to_import_aeo"]["cells"][0]
        == "withheld: declarations 2025-03 failed row_count_ratio"
    )
    assert "gradient" in by_id["kpi-time_to_import_aeo"]["background"]  # drawn distinctly
    assert "kpi-drawback_claims_aeo" not in by_id


def test_an_override_lets_the_month_through_and_says_so(faulty, capsys):
    from dagster_project.cli import main

    settings, *_ = faulty
    with patched_environ(settings.as_env()):
        assert (
            main(
                [
                    "override",
                    "--feed",
                    "declarations",
                    "--month",
                    "2025-03",
                    "--by",
                    "A. Operator",
                    "--reason",
                    "partial extract confirmed",
                ]
            )
            == 0
        )
    outcome = run_pipeline(settings, month_from=MAR, month_to=MAR, out=io.StringIO())
    assert not outcome.success  # the manual month is still withheld
    assert sorted(
        f.split(":")[1].strip() for f in outcome.failures if f.startswith("withheld: ")
    ) == [
        "lanes 2025-03",
        "manual 2025-03",
    ]  # the lanes still name declarations the partial extract lacks
    after = kpis(settings)
    assert (
        after[("time_to_import_aeo", MAR)][4] == "override: A. Operator, partial extract confirmed"
    )
    assert after[("time_to_import_aeo", MAR)][0] is not None
    assert len(month_of(settings, "fct_declarations")) < 300  # the accepted partial delivery
    state = {(s.feed, s.month): s for s in collect_status(settings, today=date(2026, 1, 5))}
    assert state[("declarations", MAR)].state == "published"
    assert state[("declarations", MAR)].detail.startswith("override: by A. Operator")
    html = (settings.marts_dir / "report" / "2025-03.html").read_text(encoding="utf-8")
    assert 'class="override" title="override: A. Operator, partial extract confirmed"' in html
