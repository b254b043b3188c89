"""The scorecard report: self-contained HTML per month, charts that really draw in a browser."""

from __future__ import annotations

import io
import os
import re
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from dagster_project.report.data import KpiRow, ReportData
from dagster_project.report.render import index_page, month_page, scorecard_markdown
from tests.bi_world import MONTHS
from tests.cdp import Chromium

CHART_IDS = {
    "chart-release-time",
    "chart-lane-mix",
    "chart-trade-share",
    "chart-paperless",
    "chart-sla-sla_timely_processing_rate",
    "chart-sla-edoc_processing_seconds_export",
    "chart-sla-system_failures",
}
CHARTS_JS = """Array.from(document.querySelectorAll('figure.chart')).map(f => {
    const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {x: 0, y: 0, width: 0, height: 0};
    return {id: f.id, x: r.x + window.scrollX, y: r.y + window.scrollY, w: r.width, h: r.height,
            marks: s ? s.querySelectorAll('rect.bar, path.series, circle.point').length : 0};
})"""


def assert_self_contained(html: str) -> None:
    assert (
        "<script" not in html.lower() and "<link" not in html.lower() and "<img" not in html.lower()
    )
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def ink(image, box) -> tuple[float, float]:
    """(standard deviation of grey levels, share of pixels far from the region's commonest grey)."""
    from PIL import ImageStat

    region = image.crop(tuple(int(v) for v in box))
    hist = region.histogram()
    background = max(range(256), key=lambda i: hist[i])
    total = sum(hist)
    far = sum(n for level, n in enumerate(hist) if abs(level - background) > 40)
    return ImageStat.Stat(region).stddev[0], far / total


# ---- on the published warehouse -------------------------------------------------------


@pytest.mark.slow
def test_a_page_per_month_and_an_index(bi_world):
    report = bi_world.settings.marts_dir / "report"
    assert sorted(p.name for p in report.glob("*.html")) == sorted(
        ["index.html", *(f"{m}.html" for m in MONTHS)]
    )
    index = (report / "index.html").read_text(encoding="utf-8")
    assert_self_contained(index)
    for m in MONTHS:
        assert f'href="{m}.html"' in index


@pytest.mark.slow
def test_the_report_step_reads_the_warehouse_within_the_runs_memory_limit(
    bi_world, tmp_path, monkeypatch
):
    """Found at 10M declarations: the report step read the published file with DuckDB's own
    default (80 % of RAM, no spill folder) and peaked at 20 GiB, five times the run's budget.
    The real step, materialized on a copy of a published warehouse; every DuckDB database it
    opens is seen on its way in."""
    import duckdb
    from dagster import materialize

    from dagster_project.assemble import build_definitions
    from dagster_project.warehouse.resource import WarehouseResource
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, CUSTOMS_KPI_MEMORY_LIMIT="300MiB")
    settings.marts_dir.mkdir(parents=True)
    shutil.copy(bi_world.settings.published_db, settings.published_db)
    monkeypatch.setenv("CUSTOMS_KPI_MEMORY_LIMIT", "300MiB")
    opened: list[dict] = []
    real_connect = duckdb.connect

    def seen_connect(*args, **kwargs):
        opened.append(dict(kwargs.get("config") or {}))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", seen_connect)
    report = build_definitions(settings).get_assets_def(["scorecard_report"])
    result = materialize(
        [report],
        partition_key=f"{MONTHS[-1]}-01",
        resources={"warehouse": WarehouseResource(data_dir=str(settings.data_dir))},
    )
    assert result.success
    assert (settings.marts_dir / "report" / f"{MONTHS[-1]}.html").is_file()
    assert opened
    for config in opened:
        assert config.get("memory_limit") == "300MiB", config
        assert Path(config.get("temp_directory", "/")).parent == settings.work_dir, config


@pytest.mark.slow
def test_the_month_page_has_every_kpi_with_its_actual_value(bi_world):
    from dagster_project.publish.publisher import open_published
    from dagster_project.report.render import fmt_value

    page = (bi_world.settings.marts_dir / "report" / f"{MONTHS[-1]}.html").read_text(
        encoding="utf-8"
    )
    assert_self_contained(page)
    with open_published(bi_world.settings.published_db) as con:
        rows = con.execute(
            "SELECT kpi_id, unit, value, status FROM marts.kpi_monthly WHERE month = ?",
            [date.fromisoformat(MONTHS[-1] + "-01")],
        ).fetchall()
    assert len(rows) == bi_world.catalog_size
    for kpi_id, unit, value, status in rows:
        row = re.search(rf'<tr id="kpi-{kpi_id}">(.*?)</tr>', page, re.S)
        assert row, kpi_id
        assert f"<b>{fmt_value(value, unit)}</b>" in row.group(1), kpi_id
    for chart in CHART_IDS:
        assert f'id="{chart}"' in page
    assert page.count("<svg") == len(CHART_IDS)


@pytest.mark.slow
def test_charts_draw_in_headless_chromium_without_errors(bi_world):
    from PIL import Image

    report = bi_world.settings.marts_dir / "report"
    with Chromium() as browser:
        # the detector works: a page with a console error and a blocked fetch is caught
        bad = bi_world.screenshots / "bad.html"
        bad.write_text("<script>console.error('boom')</script><img src='missing.png'>")
        probe = browser.open(bad.as_uri())
        assert any("boom" in e for e in probe.visit().console_errors)

        for name in (f"{MONTHS[-1]}.html", "index.html"):
            page = browser.open((report / name).as_uri())
            charts = page.evaluate(CHARTS_JS)
            png = page.screenshot()
            visit = page.visit()
            shot = bi_world.screenshots / name.replace(".html", ".png")
            shot.write_bytes(png)
            assert visit.console_errors == [], (name, visit.console_errors)
            assert visit.failed_requests == [], (name, visit.failed_requests)
            assert all(u.startswith("file://") for u in visit.requests), visit.requests
            image = Image.open(io.BytesIO(png)).convert("L")
            if name == "index.html":
                assert {c["id"] for c in charts} == {"chart-release-time", "chart-paperless-share"}
            else:
                assert {c["id"] for c in charts} == CHART_IDS
            for c in charts:
                assert c["w"] > 300 and c["h"] > 80 and c["marks"] > 0, c
                spread, inked = ink(image, (c["x"], c["y"], c["x"] + c["w"], c["y"] + c["h"]))
                assert spread > 10 and inked > 0.01, (name, c["id"], spread, inked, str(shot))
    keep = os.environ.get(
        "CUSTOMS_KPI_TEST_ARTIFACTS"
    )  # a folder to keep the screenshots in, if set
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in bi_world.screenshots.glob("*.png"):
            shutil.copy2(shot, Path(keep) / f"report-{shot.name}")
    print(f"report screenshots: {keep or bi_world.screenshots}")


EXPLAIN_JS = """({
    title: document.querySelector('h1').textContent,
    definition: document.querySelector('#definition + p').textContent,
    formula: document.querySelector('#formula + p').textContent,
    check: document.querySelector('#check').textContent,
    checkClass: document.querySelector('#check').className,
    facts: Object.fromEntries(Array.from(document.querySelectorAll('#facts tr')).map(
        tr => [tr.cells[0].textContent, tr.cells[1].textContent])),
    records: Array.from(document.querySelectorAll('#records tr.record')).map(
        tr => Array.from(tr.cells).map(td => td.textContent)),
    sql: document.querySelector('#records-sql').textContent,
    back: document.querySelector('nav a').getAttribute('href'),
    recordsBox: (() => { const r = document.querySelector('#records').getBoundingClientRect();
                         return {w: r.width, h: r.height}; })(),
})"""


@pytest.mark.slow
def test_every_scorecard_row_links_to_its_explanation_page(bi_world):
    report = bi_world.settings.marts_dir / "report"
    for m in MONTHS:
        page = (report / f"{m}.html").read_text(encoding="utf-8")
        links = re.findall(
            r'<tr id="kpi-([a-z0-9_]+)"><td class="name"><a href="(explain/[^"]+)">', page
        )
        assert len(links) == bi_world.catalog_size
        for kpi_id, href in links:
            assert href == f"explain/{m}/{kpi_id}.html"
            target = report / href
            assert target.is_file(), href
        assert_self_contained((report / links[0][1]).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_explanation_page_recomputes_the_value_in_chromium(bi_world):
    from dagster_project.publish.publisher import open_published
    from tests.bi_world import cli_query

    month = MONTHS[-1]
    report = bi_world.settings.marts_dir / "report"
    with open_published(bi_world.settings.published_db) as con:
        value, n = con.execute(
            "SELECT value, n FROM marts.kpi_monthly WHERE kpi_id = 'time_to_import_aeo' "
            "AND month = ?",
            [date.fromisoformat(month + "-01")],
        ).fetchall()[0]
        definition = con.execute(
            "SELECT definition FROM marts.kpi_catalog WHERE kpi_id = 'time_to_import_aeo'"
        ).fetchall()[0][0]
    assert n > 20
    path = report / "explain" / month / "time_to_import_aeo.html"
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    with Chromium() as browser:
        page = browser.open(path.as_uri())
        got = page.evaluate(EXPLAIN_JS)
        png = page.screenshot()
        visit = page.visit()
    (bi_world.screenshots / "explain.png").write_bytes(png)
    assert visit.console_errors == [] and visit.failed_requests == [], visit
    assert all(u.startswith("file://") for u in visit.requests), visit.requests
    assert got["definition"] == definition and got["formula"].startswith("mean of the measure")
    assert "give the published value" in got["check"] and "good" in got["checkClass"]
    facts = got["facts"]
    assert float(facts["Published value"]) == pytest.approx(value, rel=1e-12)
    assert float(facts["Recomputed value"]) == pytest.approx(value, rel=1e-9)
    assert facts["n"] == facts["Recomputed n"] == facts["In the denominator"] == f"{n:,}"
    assert got["back"] == f"../../{month}.html" and (path.parent / got["back"]).resolve().is_file()
    # the 20 records contributing most: the largest hours first, as the pasted SQL lists them
    assert len(got["records"]) == 20 and got["recordsBox"]["h"] > 200
    hours = [float(r[4]) for r in got["records"]]
    assert hours == sorted(hours, key=abs, reverse=True)
    rows = cli_query(bi_world.settings.published_db, got["sql"])
    assert len(rows) == n
    assert [r[1] for r in rows[:20]] == [r[1] for r in got["records"]]
    assert sum(float(r[4]) for r in rows) / n == pytest.approx(value, rel=1e-9)


# ---- rendering, on hand-made rows: targets, YTD and status colours ----------------------------


def _row(
    kpi_id,
    month,
    value,
    *,
    unit="applications",
    basis="ytd",
    ytd=None,
    baseline=None,
    target=None,
    status=None,
    progress=None,
    group="AEO programme uptake",
    direction="up",
):
    return KpiRow(
        month,
        kpi_id,
        group,
        kpi_id.replace("_", " ").capitalize(),
        unit,
        direction,
        basis,
        "computed",
        value,
        ytd,
        None if value is None else 1,
        baseline,
        target,
        status,
        progress,
    )


def test_month_page_fills_baseline_target_actual_ytd_and_status_colour():
    jan, feb = date(2025, 1, 1), date(2025, 2, 1)
    rows = [
        _row(
            "aeo_applications_received",
            jan,
            3,
            ytd=3,
            baseline=2,
            target=10,
            status="not_met",
            progress=12.5,
        ),
        _row(
            "aeo_applications_received",
            feb,
            8,
            ytd=11,
            baseline=2,
            target=10,
            status="met",
            progress=112.5,
        ),
        _row(
            "sla_timely_processing_rate",
            feb,
            97.0,
            unit="%",
            basis="month",
            status="minimum",
            group="Single Window service levels",
        ),
        _row(
            "time_to_import_aeo",
            feb,
            None,
            unit="hours",
            basis="month",
            baseline=5,
            target=4,
            group="Time to clear goods (AEO trade)",
            direction="down",
        ),
    ]
    data = ReportData(
        months=[jan, feb], rows=rows, levels={"sla_timely_processing_rate": (100, 98, 96)}
    )
    html = month_page(data, feb, datetime(2025, 3, 5, tzinfo=timezone.utc))
    assert_self_contained(html)
    received = re.search(r'<tr id="kpi-aeo_applications_received">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", received, re.S)
    # indicator, unit, baseline, target, actual, ytd, progress, status, n
    assert cells[2:7] == ["2", "10", "<b>8</b>", "11", "112 %"]
    assert 'class="status good">met<' in cells[7]
    sla = re.search(r'<tr id="kpi-sla_timely_processing_rate">(.*?)</tr>', html, re.S).group(1)
    assert "goal 100 · basic 98 · min 96" in sla and 'class="status warn">minimum<' in sla
    missing = re.search(r'<tr id="kpi-time_to_import_aeo">(.*?)</tr>', html, re.S).group(1)
    assert "<b>–</b>" in missing and 'class="status none">' in missing
    assert 'href="2025-01.html"' in html and 'href="index.html"' in html

    md = scorecard_markdown(data, feb)
    assert "| Aeo applications received (applications) | 8 | 11 | 2 | 10 | met |" in md
    assert_self_contained(index_page(data, datetime(2025, 3, 5, tzinfo=timezone.utc)))
