"""docs/analysts.md never rots: every SQL block runs on a published warehouse and gives sensible answers.

Also the data dictionary: the dbt docs site is published under marts/docs/
and every published column has a description.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from dagster_project.publish.dictionary import undocumented_columns
from dagster_project.publish.publisher import open_published
from dagster_project.settings import PROJECT_ROOT
from tests.bi_world import MONTHS, cli_query

ANALYSTS_MD = PROJECT_ROOT / "docs" / "analysts.md"
BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
TAG = re.compile(r"^-- query: (\w+)\s*$", re.M)


def queries() -> dict[str, str]:
    out = {}
    for sql in BLOCK.findall(ANALYSTS_MD.read_text(encoding="utf-8")):
        tag = TAG.search(sql)
        assert tag, f"an SQL block of docs/analysts.md has no '-- query: name' line:\n{sql[:200]}"
        assert tag.group(1) not in out, f"duplicate query name {tag.group(1)}"
        out[tag.group(1)] = sql
    return out


def kpi(con, kpi_id: str) -> dict[str, float | None]:
    rows = con.execute(
        "SELECT strftime(month, '%Y-%m'), value FROM marts.kpi_monthly WHERE kpi_id = ?", [kpi_id]
    ).fetchall()
    return dict(rows)


def close(a, b, tol=1e-6) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def pct(series: pd.Series) -> bool:
    s = series.dropna()
    return bool(((s >= 0) & (s <= 100)).all())


# ---- one check per query: what a sensible answer looks like ------------------------


def check_scorecard_latest_month(df, con):
    assert len(df) == con.execute("SELECT count(*) FROM marts.kpi_catalog").fetchall()[0][0]
    order = {"not_met": 0, "below_minimum": 0, "minimum": 1, "basic": 2, "met": 3, "goal": 3}
    ranks = [order.get(s, 4) if isinstance(s, str) else 4 for s in df["status"]]
    assert ranks == sorted(ranks)
    assert df["value"].notna().sum() > len(df) / 2


def check_aeo_trade_share_trend(df, con):
    assert list(df["month"]) == list(MONTHS)
    for _, r in df.iterrows():
        parts = r[["central_asia_pct", "eu_us_pct", "east_asia_pct", "other_pct"]].sum()
        assert abs(parts - r["total_pct"]) < 1e-6 and 0 < r["total_pct"] <= 100
    assert pct(df["total_pct"]) and (df["trade_declarations"] > 0).all()


def check_aeo_vs_non_aeo_release_time(df, con):
    assert set(df["trader"]) == {"AEO", "non-AEO"} and (df["released"] > 0).all()
    assert (df["mean_hours"].dropna() >= 0).all() and (df["median_hours"].dropna() >= 0).all()
    aeo_im = df[(df["trader"] == "AEO") & (df["declaration_type"] == "IM")].set_index("month")[
        "mean_hours"
    ]
    for month, value in kpi(con, "time_to_import_aeo").items():
        assert close(aeo_im.get(month), value), month
    # the story the data tell: AEOs are released faster on average
    assert (
        df.groupby("trader")["mean_hours"].mean()["AEO"]
        < df.groupby("trader")["mean_hours"].mean()["non-AEO"]
    )


def check_lane_mix(df, con):
    sums = df.groupby(["month", "trader"])["pct"].sum()
    assert ((sums - 100).abs() <= 0.5).all()
    assert "GREEN" in set(df["final_lane"])
    total = con.execute("SELECT count(*) FROM marts.fct_declarations").fetchall()[0][0]
    assert df["declarations"].sum() == total


def check_sla_grade_history(df, con):
    assert list(df["month"]) == list(MONTHS)
    grades = {"goal", "basic", "minimum", "below_minimum"}
    for col in ("on_time_grade", "edoc_grade", "failures_grade"):
        assert set(df[col].dropna()) <= grades and df[col].notna().any(), col
    assert pct(df["on_time_rate_pct"]) and (df["edoc_seconds"].dropna() > 0).all()


def check_paperless_by_category(df, con):
    assert set(df["category"]) <= {1, 2, 3, 4} and (df["paperless"] <= df["declarations"]).all()
    assert pct(df["paperless_pct"])
    for c in (1, 2, 3, 4):
        values = kpi(con, f"paperless_declarations_cat{c}")
        got = df[df["category"] == c].set_index("month")["paperless"]
        for month, value in values.items():
            assert close(float(got.get(month, 0)), value), (c, month)


def check_drawback_days(df, con):
    assert list(df["month"]) == list(MONTHS)
    assert (df[["days_aeo", "days_non_aeo"]].stack() >= 0).all()
    assert (df["claims_aeo"] + df["claims_non_aeo"] > 0).all()


def check_detection_rates(df, con):
    assert (df["hits"] <= df["inspections"]).all() and pct(df["detection_pct"])
    assert set(df["final_selection"]) <= {"RISK", "RANDOM", "OFFICER"}
    for month, value in kpi(con, "import_detection_rate").items():
        m = df[df["month"] == month]
        if value is not None:
            assert close(100.0 * m["hits"].sum() / m["inspections"].sum(), value), month


def check_trs_percentiles_by_mode(df, con):
    assert len(df) >= 3
    both = df.dropna(subset=["median_arrival_to_release_h", "p90_arrival_to_release_h"])
    assert (
        len(both)
        and (both["p90_arrival_to_release_h"] >= both["median_arrival_to_release_h"]).all()
    )
    assert (df["with_arrival_and_release"] <= df["declarations"]).all()
    assert pct(df["released_before_arrival_pct"])


def check_rejects_by_reason(df, con):
    assert (df["rejected"] > 0).all() and pct(df["pct_of_rows_read"])
    assert (
        df["rejected"].sum()
        == con.execute("SELECT count(*) FROM marts.load_rejects").fetchall()[0][0]
    )


def check_load_audit_per_month(df, con):
    assert (df["rows_read"] == df["rows_accepted"] + df["rows_rejected"]).all()
    assert set(df["month"]) == set(MONTHS) and len(set(df["feed"])) == 6
    assert (df["rows_accepted"] > 0).all()


def check_red_lane_declarations(df, con):
    latest = con.execute("SELECT max(month) FROM marts.kpi_monthly").fetchall()[0][0]
    value, n = con.execute(
        "SELECT value, n FROM marts.kpi_monthly WHERE kpi_id = 'import_inspection_rate' "
        "AND month = ?",
        [latest],
    ).fetchall()[0]
    assert (df["final_lane"] == "RED").all() and df["declaration_id"].is_unique
    assert close(100.0 * len(df) / n, value)


def check_slowest_aeo_imports(df, con):
    assert 0 < len(df) <= 10
    hours = list(df["hours_lodged_to_release"])
    assert hours == sorted(hours, reverse=True)
    latest = con.execute("SELECT max(month) FROM marts.kpi_monthly").fetchall()[0][0]
    slowest = con.execute(
        "SELECT max(hours_lodged_to_release) FROM marts.fct_declarations WHERE month = ? "
        "AND declaration_type = 'IM' AND is_aeo AND is_released",
        [latest],
    ).fetchall()[0][0]
    assert close(hours[0], round(slowest, 2))


def check_kpi_value_from_its_records(df, con):
    assert list(df["month"]) == list(MONTHS)
    for _, r in df.iterrows():
        assert close(r["recomputed"], r["published"], 1e-9)
        assert r["in_numerator"] == r["in_denominator"] == r["n"] > 0


CHECKS = {name[len("check_") :]: fn for name, fn in globals().items() if name.startswith("check_")}


def test_the_guide_has_at_least_ten_queries_each_with_a_check():
    found = queries()
    assert len(found) >= 10
    assert set(found) == set(CHECKS), set(found) ^ set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_worked_query(bi_world, name):
    sql = queries()[name]
    with open_published(bi_world.settings.published_db) as con:
        df = con.execute(sql).df()
        assert len(df) > 0, name
        CHECKS[name](df, con)
    # and the same SQL in the DuckDB 1.5 CLI, as an analyst would type it
    rows = cli_query(bi_world.settings.published_db, sql)
    assert len(rows) == len(df), name


# ---- the data dictionary -------------------------------------------------------------


def published_columns(db: Path) -> dict[str, list[str]]:
    with open_published(db) as con:
        rows = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


@pytest.mark.slow
def test_the_data_dictionary_is_published_and_describes_every_published_column(bi_world):
    docs = bi_world.settings.marts_dir / "docs"
    index = docs / "index.html"
    assert index.is_file() and index.stat().st_size > 100_000
    html = index.read_text(encoding="utf-8")
    assert "kpi_monthly" in html and "fct_declarations" in html  # manifest and catalog are embedded
    manifest = json.loads((docs / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs / "catalog.json").read_text(encoding="utf-8"))
    columns = published_columns(bi_world.settings.published_db)
    assert set(columns) >= {
        "fct_declarations",
        "kpi_monthly",
        "trs_monthly",
        "kpi_catalog",
        "load_audit",
        "load_rejects",
    }
    assert undocumented_columns(manifest, columns) == []
    # the catalog was read from a database with the same marts columns
    node = catalog["nodes"]["model.customs_kpi.kpi_monthly"]
    assert [c.lower() for c in node["columns"]] == columns["kpi_monthly"]


def test_the_dictionary_check_finds_a_missing_description():
    manifest = {
        "nodes": {
            "model.p.kpi_monthly": {
                "resource_type": "model",
                "schema": "marts",
                "alias": "kpi_monthly",
                "name": "kpi_monthly",
                "columns": {"a": {"description": "A."}, "b": {"description": " "}},
            }
        },
        "sources": {},
    }
    assert undocumented_columns(manifest, {"kpi_monthly": ["a", "b", "c"], "other": ["x"]}) == [
        "kpi_monthly.b",
        "kpi_monthly.c",
        "other.*",
    ]
