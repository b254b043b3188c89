"""The quality gate without Dagster: real loads into a work DuckDB, real GX, the ledger, overrides."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from datetime import date

import duckdb
import pytest

from dagster_project.contract import feed_by_name
from dagster_project.contract.catalog import code_sets
from dagster_project.ingest.loader import load_feed_month
from dagster_project.operations.status import collect_status
from dagster_project.publish.publisher import open_published, publish
from dagster_project.quality.compute import metrics_frame
from dagster_project.quality.gate import run_gate
from dagster_project.quality.ledger import OverrideError, record_override
from dagster_project.warehouse.db import work_db
from tests.conftest import make_settings, sha256
from tests.feed_rows import numbered, write_feed_file

DECL = feed_by_name("declarations")
LANES = feed_by_name("lanes")
JAN, FEB, MAR, APR = (date(2024, m, 1) for m in (1, 2, 3, 4))
LANE_MIX = ["GREEN"] * 14 + ["YELLOW"] * 3 + ["RED"] * 2 + ["BLUE"]


def declarations(month: date, n: int, **overrides) -> list[dict[str, str]]:
    day = f"{month:%Y-%m}-10"
    return [
        numbered(
            DECL,
            i,
            declaration_id=f"D{month:%Y%m}-{i}",
            arrival_at=f"{day} 08:00",
            lodged_at=f"{day} 09:00",
            released_at=f"{day} 11:30",
            **overrides,
        )
        for i in range(n)
    ]


def lanes(month: date, n: int, **overrides) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        lane = LANE_MIX[i % len(LANE_MIX)]
        checked = lane in ("YELLOW", "RED")
        rows.append(
            numbered(
                LANES,
                i,
                declaration_id=f"D{month:%Y%m}-{i}",
                lane=lane,
                assigned_at=f"{month:%Y-%m}-10 09:05",
                selection="" if lane == "GREEN" else "RISK",
                rule_id="" if lane == "GREEN" else "R1",
                inspection_ended_at=f"{month:%Y-%m}-10 10:00" if checked else "",
                finding="NONE" if checked else "",
            )
        )
        rows[-1].update(overrides)
    return rows


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def deliver(settings, feed, month, rows, name="extract.csv", **kwargs):
    folder = settings.raw_dir / feed.name / f"{month:%Y-%m}"
    if folder.exists():
        shutil.rmtree(folder)
    write_feed_file(settings.raw_dir, feed, rows, month=month, name=name, **kwargs)
    with work_db(settings) as con:
        return load_feed_month(
            con, feed, month, raw_dir=settings.raw_dir, tz=settings.tz, code_sets=code_sets()
        )


def gate(settings, feed, months, **kwargs):
    return run_gate(
        settings,
        feed,
        months,
        run_id="test-run",
        data_docs=kwargs.pop("data_docs", False),
        **kwargs,
    )


def audit(settings, feed):
    with work_db(settings, read_only=True) as con:
        return con.execute(
            "SELECT strftime(month, '%Y-%m'), quality_result, quality_note FROM raw.load_audit WHERE feed = ? ORDER BY month",
            [feed.name],
        ).fetchall()


def three_clean_months(settings, n=80):  # above the 50-row floor of the row-count band
    for m in (JAN, FEB, MAR):
        deliver(settings, DECL, m, declarations(m, n))


def only(outcome, month):
    (result,) = [m for m in outcome.months if m.month == month]
    return result


# ---- clean data -----------------------------------------------------------------------------------


def test_clean_months_pass_and_the_result_is_recorded(settings):
    three_clean_months(settings)
    outcome = gate(settings, DECL, [JAN, FEB, MAR])
    assert outcome.passed and [m.result for m in outcome.months] == ["passed"] * 3
    assert audit(settings, DECL) == [
        (m, "passed", "passed (34 expectations)") for m in ("2024-01", "2024-02", "2024-03")
    ]
    assert not settings.published_db.exists()  # the gate itself never publishes


def test_only_the_runs_months_and_unchecked_ones_are_evaluated(settings):
    three_clean_months(settings)
    gate(settings, DECL, [JAN, FEB, MAR])
    deliver(settings, DECL, APR, declarations(APR, 80))
    outcome = gate(settings, DECL, [APR])
    assert [m.month for m in outcome.months] == [APR]
    deliver(settings, DECL, FEB, declarations(FEB, 21))  # reloaded outside a run: 'not_checked'
    assert [m.month for m in gate(settings, DECL, []).months] == [FEB]


def test_the_metrics_frame_is_one_row_per_month_of_aggregates(settings):
    three_clean_months(settings)
    with work_db(settings) as con:
        frame = metrics_frame(
            con, DECL, [JAN, FEB, MAR], tz="UTC", code_sets=code_sets(), history_months=6
        )
    assert list(frame["month"]) == ["2024-01", "2024-02", "2024-03"]
    row = frame.set_index("month").loc["2024-03"]
    assert row["row_count"] == 80 and row["row_count_ratio"] == 1.0 and row["reject_share"] == 0
    assert row["release_hours_median"] == 2.5 and row["released_share"] == 1
    assert (
        frame.set_index("month").loc["2024-01", "row_count_ratio"]
        != frame.set_index("month").loc["2024-01", "row_count_ratio"]
    )  # NaN: no history


# ---- batch-level faults ----------------------------------------------------------------------------


def test_redelivery_with_fewer_rows_fails_the_row_count_band(settings):
    three_clean_months(settings)
    gate(settings, DECL, [JAN, FEB, MAR])
    deliver(settings, DECL, MAR, declarations(MAR, 20), name="resent.csv")
    outcome = gate(settings, DECL, [MAR])
    result = only(outcome, MAR)
    assert result.result == "failed" and not outcome.passed
    assert result.note == (
        "quality suite failed: row_count_ratio = 0.25, expected between 0.5 and 2 "
        "[20 rows vs median 80 of 2 earlier month(s)]"
    )
    (finding,) = result.findings
    assert (finding.metric, finding.observed, finding.min_value, finding.max_value) == (
        "row_count_ratio",
        0.25,
        0.5,
        2.0,
    )
    assert finding.sample == [
        {"month": "2024-01", "rows_accepted": 80, "quality_failed": False, "in_history": True},
        {"month": "2024-02", "rows_accepted": 80, "quality_failed": False, "in_history": True},
        {"month": "2024-03", "rows_accepted": 20, "quality_failed": False, "in_history": False},
    ]
    assert outcome.messages() == [f"declarations 2024-03: {result.note}"]
    assert audit(settings, DECL)[-1][1] == "failed"


def dirty(settings):
    with work_db(settings, read_only=True) as con:
        return con.execute(
            "SELECT DISTINCT feed, month FROM meta.dirty_months ORDER BY ALL"
        ).fetchall()


def test_a_withheld_month_that_passes_later_is_rebuilt(settings):
    """A failed month can pass without a new delivery of its own (here: the months before it are
    re-delivered, so its band changes): its figures, kept as published while it was withheld,
    must then be rebuilt by the next build."""
    failed_march(settings)
    for m in (JAN, FEB):
        deliver(settings, DECL, m, declarations(m, 20))
    with work_db(settings) as con:
        con.execute("DELETE FROM meta.dirty_months")  # as after a build
    result = only(gate(settings, DECL, [JAN, FEB]), MAR)  # re-checked in a run of other months
    assert result.result == "passed", result.note
    assert dirty(settings) == [("declarations", MAR)]
    with work_db(settings) as con:
        con.execute("DELETE FROM meta.dirty_months")
    assert only(gate(settings, DECL, [MAR]), MAR).result == "passed"
    assert dirty(settings) == []  # passing again marks nothing


def test_first_month_has_no_band_and_a_failed_month_is_not_history(settings):
    deliver(settings, DECL, JAN, declarations(JAN, 60))
    assert gate(settings, DECL, [JAN]).passed  # no history: the band is not checked
    deliver(settings, DECL, FEB, declarations(FEB, 240))
    assert (
        only(gate(settings, DECL, [FEB]), FEB).findings[0].metric == "row_count_ratio"
    )  # 240 / 60 = 4
    deliver(settings, DECL, MAR, declarations(MAR, 90))
    # February failed: March is compared with January only (90 / 60 = 1.5)
    assert only(gate(settings, DECL, [MAR]), MAR).result == "passed"


def test_header_only_delivery_fails_row_count(settings):
    three_clean_months(settings)
    deliver(settings, DECL, APR, [])
    result = only(gate(settings, DECL, [APR]), APR)
    assert result.result == "failed"
    assert [f.metric for f in result.findings] == ["row_count", "row_count_ratio"]
    assert result.findings[0].text() == "row_count = 0, expected at least 1"


def test_rejected_share_above_the_feeds_limit(settings):
    three_clean_months(settings, n=20)  # below the band's floor: only the shares are checked
    rows = declarations(APR, 20)
    for r in rows[:3]:
        r["declaration_type"] = "XX"
    deliver(settings, DECL, APR, rows)
    result = only(gate(settings, DECL, [APR]), APR)
    assert [(f.metric, f.observed, f.max_value) for f in result.findings] == [
        ("reject_share", 0.15, 0.05)
    ]
    assert [s["reason"] for s in result.findings[0].sample] == [
        "code outside its set (IM|EX|TR)"
    ] * 3
    assert [s["line"] for s in result.findings[0].sample] == [2, 3, 4]


def test_an_optional_column_the_exporter_dropped_shows_as_null_share(settings):
    three_clean_months(settings, n=20)  # below the band's floor: only the shares are checked
    columns = [c for c in DECL.column_names if c != "duty_amount"]
    deliver(settings, DECL, APR, declarations(APR, 20), columns=columns)
    result = only(gate(settings, DECL, [APR]), APR)
    assert [(f.metric, f.observed, f.max_value) for f in result.findings] == [
        ("duty_amount__null_share", 1.0, 0.8)
    ]
    assert result.findings[0].sample == [{"file": "extract.csv", "rows": 20, "null_share": 1.0}]


def test_release_distribution(settings):
    three_clean_months(settings, n=20)  # below the band's floor: only the shares are checked
    rows = declarations(APR, 20)
    for i, r in enumerate(rows):
        r["released_at"] = "" if i < 12 else "2024-06-30 09:00"  # 8 released after 81 days
    deliver(settings, DECL, APR, rows)
    result = only(gate(settings, DECL, [APR]), APR)
    found = {f.metric: f for f in result.findings}
    assert set(found) == {
        "released_share",
        "released_at__null_share",
        "release_hours_median",
        "release_hours_p95",
    }
    assert found["released_share"].observed == 0.4
    assert found["release_hours_median"].observed == 1944.0
    assert found["release_hours_median"].sample[0]["released_at"] == "2024-06-30 09:00:00"


def test_lane_shares_and_declaration_coverage(settings):
    deliver(settings, DECL, MAR, declarations(MAR, 20))
    deliver(settings, LANES, MAR, lanes(MAR, 20))
    assert gate(settings, LANES, [MAR]).passed
    rows = lanes(MAR, 20, lane="RED", selection="RISK", rule_id="R1")
    for r in rows[:5]:
        r["declaration_id"] = "UNKNOWN-" + r["declaration_id"]
    deliver(settings, LANES, MAR, rows)
    result = only(gate(settings, LANES, [MAR]), MAR)
    found = {f.metric: f.observed for f in result.findings}
    assert found == {
        "lane_share__GREEN": 0.0,
        "lane_share__YELLOW": 0.0,
        "lane_share__RED": 1.0,
        "declaration_coverage": 0.75,
    }
    coverage = [f for f in result.findings if f.metric == "declaration_coverage"][0]
    assert [s["declaration_id"] for s in coverage.sample] == [
        f"UNKNOWN-D202403-{i}" for i in range(5)
    ]


# ---- column-level: the suite verifies the loader ------------------------------------------------------


def test_rows_that_bypassed_the_loader_are_caught_with_a_sample(settings):
    three_clean_months(settings)
    with work_db(settings) as con:
        con.execute(
            "INSERT INTO raw.declarations SELECT * REPLACE ('ZZ' AS declaration_type, 'x.csv' AS _file, 99 AS _line) "
            "FROM raw.declarations WHERE _month = DATE '2024-03-01' LIMIT 1"
        )
        con.execute(
            "UPDATE raw.declarations SET released_at = lodged_at - INTERVAL 1 HOUR "
            "WHERE _month = DATE '2024-03-01' AND _line = 5"
        )
    result = only(gate(settings, DECL, [MAR]), MAR)
    found = {f.metric: f for f in result.findings}
    assert set(found) == {
        "declaration_type__not_in_set",
        "released_at__not_before_lodged_at",
        "declaration_id__duplicates",
    }
    assert found["declaration_type__not_in_set"].sample == [
        {"_file": "x.csv", "_line": 99, "declaration_id": "D202403-0", "declaration_type": "ZZ"}
    ]
    assert found["declaration_id__duplicates"].observed == 1
    assert [s["_line"] for s in found["declaration_id__duplicates"].sample] == [2, 99]
    assert found["released_at__not_before_lodged_at"].sample[0]["_line"] == 5


# ---- held back, overrides, the ledger ------------------------------------------------------------------


def failed_march(settings):
    three_clean_months(settings)
    gate(settings, DECL, [JAN, FEB, MAR])
    deliver(settings, DECL, MAR, declarations(MAR, 20), name="resent.csv")
    assert not gate(settings, DECL, [MAR]).passed


def test_a_failed_month_keeps_failing_runs_of_other_months(settings):
    failed_march(settings)
    deliver(settings, DECL, APR, declarations(APR, 80))
    outcome = gate(settings, DECL, [APR])
    assert [(m.month, m.result) for m in outcome.months] == [(MAR, "failed"), (APR, "passed")]
    assert not outcome.passed


def test_override_lets_the_month_through_until_it_is_redelivered(settings):
    failed_march(settings)
    with work_db(settings) as con:
        con.execute("DELETE FROM meta.dirty_months")  # as after a build
    before, note = record_override(
        settings, DECL, MAR, "A. Operator", "partial month confirmed by the IT department"
    )
    assert before == "failed"
    assert dirty(settings) == [
        ("declarations", MAR)
    ]  # the next build rebuilds the month it lets through
    assert note.startswith("overridden by A. Operator at ") and "partial month confirmed" in note
    assert note.endswith(
        "| quality suite failed: row_count_ratio = 0.25, expected between 0.5 and 2 "
        "[20 rows vs median 80 of 2 earlier month(s)]"
    )
    assert audit(settings, DECL)[-1][1] == "overridden"

    # the same files loaded again: the override stands
    deliver(settings, DECL, MAR, declarations(MAR, 20), name="resent.csv")
    result = only(gate(settings, DECL, [MAR]), MAR)
    assert result.result == "overridden" and result.note.startswith("overridden by A. Operator")

    # a re-delivery with other content voids it
    deliver(settings, DECL, MAR, declarations(MAR, 24), name="resent.csv")
    assert only(gate(settings, DECL, [MAR]), MAR).result == "failed"
    # and a good re-delivery passes
    deliver(settings, DECL, MAR, declarations(MAR, 80), name="fixed.csv")
    assert only(gate(settings, DECL, [MAR]), MAR).result == "passed"

    with work_db(settings, read_only=True) as con:
        log = con.execute(
            "SELECT feed, strftime(month, '%Y-%m'), overridden_by, reason, result_before "
            "FROM raw.quality_overrides"
        ).fetchall()
    assert log == [
        (
            "declarations",
            "2024-03",
            "A. Operator",
            "partial month confirmed by the IT department",
            "failed",
        )
    ]


def test_only_a_failed_month_can_be_overridden(settings):
    """An override of a month that passed (a typo in --month, say) would publish its values as
    accepted by an operator; one of a month not yet checked would skip its check."""
    for m in (JAN, FEB):
        deliver(settings, DECL, m, declarations(m, 80))
    gate(settings, DECL, [JAN, FEB])
    deliver(settings, DECL, MAR, declarations(MAR, 80))  # loaded, its check still to come
    with pytest.raises(OverrideError, match="declarations 2024-02 passed its quality suite"):
        record_override(settings, DECL, FEB, "A. Operator", "wrong month")
    with pytest.raises(OverrideError, match="declarations 2024-03 has not been checked yet"):
        record_override(settings, DECL, MAR, "A. Operator", "before its check")
    assert [r[1] for r in audit(settings, DECL)] == ["passed", "passed", "not_checked"]
    with work_db(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.quality_overrides").fetchall() == [(0,)]


def test_override_command(settings, monkeypatch):
    from dagster_project.cli import main

    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["override", *argv])
        return code, out.getvalue(), err.getvalue()

    failed_march(settings)
    code, _, err = run(
        "--feed", "declarations", "--month", "2024-05", "--by", "me", "--reason", "ok"
    )
    assert code == 2 and "declarations 2024-05 is not loaded: nothing to override" in err
    code, _, err = run(
        "--feed", "declarations", "--month", "2024-03", "--by", " ", "--reason", "ok"
    )
    assert code == 2 and "--by must name" in err
    code, out, _ = run(
        "--feed",
        "declarations",
        "--month",
        "2024-03",
        "--by",
        "B. Chief",
        "--reason",
        "known outage",
    )
    assert code == 0 and "declarations 2024-03: failed -> overridden" in out
    assert "customs-kpi run --from 2024-03 --to 2024-03" in out
    assert audit(settings, DECL)[-1][1] == "overridden"


def published_before(settings):
    """A published warehouse as the last good run left it (a full publish of a one-table mart)."""
    with work_db(settings) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.kpi_monthly AS SELECT 'k' AS kpi_id, DATE '2024-03-01' AS month, 1.5 AS value"
        )
    return publish(settings, settings.secret)


def test_the_ledger_only_publish_keeps_the_kpis_and_replaces_the_ledger(settings):
    three_clean_months(settings)
    gate(settings, DECL, [JAN, FEB, MAR])
    first = published_before(settings)
    old_inode = settings.published_db.stat().st_ino
    kpi_parquet = first.parquet / "kpi_monthly.parquet"

    deliver(settings, DECL, MAR, declarations(MAR, 20), name="resent.csv")
    outcome = gate(settings, DECL, [MAR])
    assert (
        not outcome.passed and settings.published_db.stat().st_ino == old_inode
    )  # the gate never publishes
    publish(settings, settings.secret, ledger_only=True)
    assert settings.published_db.stat().st_ino != old_inode  # a new file, swapped in
    assert list(settings.marts_dir.glob(".*.tmp*")) == []
    version = (settings.marts_dir / "parquet").resolve()
    assert version != first.parquet  # a new Parquet version...
    assert (
        version / "kpi_monthly.parquet"
    ).stat().st_ino == kpi_parquet.stat().st_ino  # ...linking the KPI file
    assert sha256(version / "kpi_monthly.parquet") == sha256(kpi_parquet)
    with open_published(settings.published_db) as con:
        assert con.execute("SELECT * FROM marts.kpi_monthly").fetchall() == [
            ("k", date(2024, 3, 1), 1.5)
        ]
        rows = con.execute(
            "SELECT strftime(month, '%Y-%m'), file, quality_result FROM marts.load_audit ORDER BY month"
        ).fetchall()
        assert rows[-1] == ("2024-03", "resent.csv", "failed")
        assert con.execute("SELECT count(*) FROM marts.load_rejects").fetchall() == [(0,)]
    assert settings.published_db.read_bytes()[8:12] == b"DUCK"
    assert settings.published_db.read_bytes()[12] == 64  # storage format of DuckDB v1.0.0 kept
    with duckdb.connect() as con:
        assert con.execute(
            f"SELECT count(*) FROM '{version / 'load_audit.parquet'}'"
        ).fetchall() == [(3,)]


def test_status_and_the_published_ledger_name_the_loads_the_published_kpis_use(settings):
    three_clean_months(settings)
    assert gate(settings, DECL, [JAN, FEB, MAR]).passed
    published_before(settings)
    deliver(settings, DECL, APR, declarations(APR, 80))
    assert gate(settings, DECL, [APR]).passed  # passes, but the run's KPIs are not built (below)
    deliver(settings, LANES, APR, lanes(APR, 20, lane="RED", selection="RISK", rule_id="R1"))
    outcome = gate(settings, LANES, [APR])
    assert not outcome.passed
    publish(
        settings, settings.secret, ledger_only=True
    )  # what a run whose KPIs are not rebuilt publishes

    state = {(s.feed, s.month): s.state for s in collect_status(settings, today=date(2024, 5, 5))}
    assert state[("declarations", MAR)] == "published"
    assert state[("declarations", APR)] == "not published"
    assert state[("lanes", APR)] == "withheld"
    with open_published(settings.published_db) as con:
        flags = con.execute(
            "SELECT feed, strftime(month, '%Y-%m'), quality_result, in_published_kpis "
            "FROM marts.load_audit ORDER BY ALL"
        ).fetchall()
    assert flags == [
        ("declarations", "2024-01", "passed", True),
        ("declarations", "2024-02", "passed", True),
        ("declarations", "2024-03", "passed", True),
        ("declarations", "2024-04", "passed", False),
        ("lanes", "2024-04", "failed", False),
    ]

    # once the lanes are fixed, a full publish uses both: published, and flagged so
    deliver(settings, LANES, APR, lanes(APR, 20))
    assert gate(settings, LANES, [APR]).passed
    publish(settings, settings.secret)
    state = {(s.feed, s.month): s.state for s in collect_status(settings, today=date(2024, 5, 5))}
    assert state[("declarations", APR)] == state[("lanes", APR)] == "published"
    with open_published(settings.published_db) as con:
        assert con.execute(
            "SELECT bool_and(in_published_kpis) FROM marts.load_audit"
        ).fetchall() == [(True,)]


def test_data_docs_are_written_for_the_run(settings):
    three_clean_months(settings)
    outcome = gate(settings, DECL, [JAN, FEB, MAR], data_docs=True)
    index = settings.marts_dir / "quality" / "test-run" / "index.html"
    assert outcome.docs_index == index and index.is_file()
    pages = list((index.parent / "validations" / "declarations").rglob("*.html"))
    assert len(pages) == 1 and "row_count_ratio" in pages[0].read_text(encoding="utf-8")


def test_the_data_docs_of_a_run_compile_each_template_once(settings, monkeypatch):
    """GX builds new Jinja environments for every validation it renders: each feed's Data Docs
    compiled the same ~50 templates again, about 2 s a run (quality/docs_views.py)."""
    import jinja2

    compiled: list[str | None] = []
    compile_template = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return compile_template(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    three_clean_months(settings)
    deliver(settings, LANES, JAN, lanes(JAN, 80))
    gate(settings, DECL, [JAN, FEB, MAR], data_docs=True)
    first = len(compiled)
    gate(settings, LANES, [JAN], data_docs=True)
    assert compiled[first:] == []  # the second feed's pages: every template compiled already
    site = settings.marts_dir / "quality" / "test-run"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "declarations" in index and "lanes" in index
    for feed in ("declarations", "lanes"):
        (page,) = (site / "validations" / feed).rglob("*.html")
        assert "Overview" in page.read_text(encoding="utf-8")


# ---- thresholds that fit small feeds ---------------------------------------------------------------

MANUAL = feed_by_name("manual")


def manual_rows(kpis):
    return [{"kpi_id": k, "value": "1", "note": ""} for k in kpis]


def test_the_row_count_band_needs_a_history_of_at_least_50_rows(settings):
    for m, n in ((JAN, 49), (FEB, 49)):
        deliver(settings, DECL, m, declarations(m, n))
    deliver(
        settings, DECL, MAR, declarations(MAR, 10)
    )  # 10 / 49: far below the band, but 49 rows are noise
    result = only(gate(settings, DECL, [JAN, FEB, MAR]), MAR)
    assert result.result == "passed", result.note
    deliver(settings, DECL, FEB, declarations(FEB, 50))
    deliver(settings, DECL, MAR, declarations(MAR, 12))  # median of (49, 50) = 49.5: still below 50
    assert only(gate(settings, DECL, [FEB, MAR]), MAR).result == "passed"
    deliver(settings, DECL, JAN, declarations(JAN, 50))
    deliver(
        settings, DECL, MAR, declarations(MAR, 12)
    )  # median 50: the band holds, 12 / 50 fails it
    result = only(gate(settings, DECL, [JAN, MAR]), MAR)
    assert [f.metric for f in result.findings] == ["row_count_ratio"]


def test_a_small_manual_month_names_its_missing_kpis_in_a_warning_not_a_failure(settings):
    from dagster_project.contract.catalog import manual_kpi_ids

    expected = sorted(manual_kpi_ids())
    assert len(expected) >= 4
    for m in (JAN, FEB, MAR):
        deliver(settings, MANUAL, m, manual_rows(expected))
    deliver(settings, MANUAL, APR, manual_rows(expected[:2]))  # 2 rows against a median of 5
    outcome = gate(settings, MANUAL, [JAN, FEB, MAR, APR])
    result = only(outcome, APR)
    assert result.result == "passed" and outcome.passed
    assert result.warnings == [f"manual KPIs of the catalog missing: {', '.join(expected[2:])}"]
    assert outcome.warnings() == [f"manual 2024-04: {result.warnings[0]}"]
    assert audit(settings, MANUAL)[-1][2].endswith(f"; warning: {result.warnings[0]}")
    assert all(not only(outcome, m).warnings for m in (JAN, FEB, MAR))
    deliver(settings, MANUAL, APR, [])  # header only: the absolute bound still holds
    result = only(gate(settings, MANUAL, [APR]), APR)
    assert result.result == "failed" and [f.metric for f in result.findings] == ["row_count"]
