"""The KPI layer on a real DuckDB work database, through the real dbt command line.

A small hand-made raw layer (administration time zone Asia/Tashkent, UTC+5,
so that local months and local dates differ from UTC ones) is built with
`dbt build` (unit tests and data tests included); a handful of scorecard
values are checked against numbers worked out by hand; then one month is
re-delivered, rebuilt incrementally through meta.build_window, and compared
with a full refresh of the same data.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from tests.dbt_fixtures import (
    create_work_db,
    dbt_command,
    deliver,
    query,
    set_build_window,
    ts,
)

pytestmark = pytest.mark.slow

TZ = "Asia/Tashkent"  # UTC+05:00 all year
KPI_MODELS = [
    "int_kpi_aeo_uptake",
    "int_kpi_aeo_trade_share",
    "int_kpi_release_time",
    "int_kpi_clearance_cost",
    "int_kpi_paperless",
    "int_kpi_aeo_lanes",
    "int_kpi_drawback",
    "int_kpi_import_inspection",
    "int_kpi_sla",
    "int_kpi_manual",
]
# The KPI marts and everything upstream of them (no tests: the first build ran them).
RUN_SELECTION = ["--select", "+kpi_monthly", "+trs_monthly", "+mart_kpi_catalog"]


def dbt(args: list[str], db: Path, tmp: Path) -> str:
    proc = dbt_command(
        args,
        tmp,
        {"CUSTOMS_KPI_WORK_DB": str(db), "CUSTOMS_KPI_TZ": TZ, "CUSTOMS_KPI_THREADS": "2"},
    )
    assert proc.returncode == 0, (
        f"dbt {' '.join(args)} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def d(text: str) -> date:
    return date.fromisoformat(text)


def decl(declaration_id: str, lodged: str, trader: str, **kw) -> dict:
    kw = {k: ts(v) if k in ("arrival_at", "released_at") and v else v for k, v in kw.items()}
    return {"declaration_id": declaration_id, "lodged_at": ts(lodged), "trader_id": trader, **kw}


# Times are UTC; local = UTC + 5 h.
REGISTER_LATEST = [
    # T100: AEO from 2024-01-01, open-ended.
    {
        "application_id": "A1",
        "trader_id": "T100",
        "submitted_at": ts("2023-10-01 05:00"),
        "decision": "APPROVED",
        "decided_at": ts("2023-12-01 05:00"),
        "valid_from": d("2024-01-01"),
    },
    # T200: submitted local 2025-01-01 01:00 (a January application), decided exactly 20 days later
    # (local 2025-01-21 01:00), AEO from 2025-01-21.
    {
        "application_id": "A2",
        "trader_id": "T200",
        "submitted_at": ts("2024-12-31 20:00"),
        "decision": "APPROVED",
        "decided_at": ts("2025-01-20 20:00"),
        "valid_from": d("2025-01-21"),
    },
    # T300: rejected on local 2025-02-01 00:30 (a February decision).
    {
        "application_id": "A3",
        "trader_id": "T300",
        "submitted_at": ts("2025-01-10 05:00"),
        "decision": "REJECTED",
        "decided_at": ts("2025-01-31 19:30"),
    },
    # T400: AEO since 2023-08-01, revoked from 2025-01-15.
    {
        "application_id": "A4",
        "trader_id": "T400",
        "submitted_at": ts("2023-06-01 05:00"),
        "decision": "APPROVED",
        "decided_at": ts("2023-07-01 05:00"),
        "valid_from": d("2023-08-01"),
        "revoked_at": d("2025-01-15"),
    },
    {
        "application_id": "A5",
        "trader_id": "T500",
        "submitted_at": ts("2025-02-10 05:00"),
        "decision": "PENDING",
    },
    # T600: AEO from 2024-06-01 to 2026-01-01 (exclusive).
    {
        "application_id": "A6",
        "trader_id": "T600",
        "submitted_at": ts("2024-03-01 05:00"),
        "decision": "APPROVED",
        "decided_at": ts("2024-05-01 05:00"),
        "valid_from": d("2024-06-01"),
        "valid_to": d("2026-01-01"),
    },
]
# An older snapshot that the latest one supersedes: T900 is never an AEO.
REGISTER_OLD = [
    {
        "application_id": "A9",
        "trader_id": "T900",
        "submitted_at": ts("2023-01-01 05:00"),
        "decision": "APPROVED",
        "decided_at": ts("2023-02-01 05:00"),
        "valid_from": d("2023-03-01"),
    },
]

DECLARATIONS_2025_01 = [
    # AEO (T100) import, Central Asia, 4 h, paperless cat 4, lane GREEN.
    decl(
        "Y1",
        "2025-01-05 05:00",
        "T100",
        partner_country="KZ",
        customs_value=1000.0,
        arrival_at="2025-01-05 03:00",
        released_at="2025-01-05 09:00",
        clearance_cost=50.0,
    ),
    # T200 on local date 2025-01-21 (UTC 2025-01-20 19:30): AEO. EU, 8 h, paperless cat 4.
    decl(
        "Y2",
        "2025-01-20 19:30",
        "T200",
        partner_country="DE",
        customs_value=500.0,
        released_at="2025-01-21 03:30",
    ),
    # T400 revoked from 2025-01-15: not an AEO on 2025-01-16. 2 h, cat 4 on paper.
    decl(
        "Y3",
        "2025-01-16 05:00",
        "T400",
        partner_country="CN",
        customs_value=500.0,
        released_at="2025-01-16 07:00",
        is_paperless=False,
    ),
    # T900 (only in a superseded snapshot): not an AEO. Export, other region, cat 2 paperless.
    decl(
        "Y4",
        "2025-01-25 05:00",
        "T900",
        declaration_type="EX",
        partner_country="BR",
        customs_value=3000.0,
        released_at="2025-01-27 05:00",
        category=2,
    ),
    # AEO transit: not trade value.
    decl(
        "Y5",
        "2025-01-26 05:00",
        "T100",
        declaration_type="TR",
        partner_country="KZ",
        customs_value=9999.0,
        released_at="2025-01-26 06:00",
    ),
]
# The re-delivery of 2025-01 adds Y6: AEO import, Central Asia, 12 h, paperless cat 4, no lane.
Y6 = decl(
    "Y6",
    "2025-01-28 05:00",
    "T100",
    partner_country="KZ",
    customs_value=1000.0,
    released_at="2025-01-28 17:00",
)


def lane(declaration_id: str, code: str, assigned: str, **kw) -> dict:
    return {"declaration_id": declaration_id, "lane": code, "assigned_at": ts(assigned), **kw}


def load(db: Path) -> None:
    create_work_db(db)
    deliver(db, "aeo_register", "2024-01", {"register.csv": REGISTER_OLD})
    deliver(db, "aeo_register", "2025-02", {"register.csv": REGISTER_LATEST})
    deliver(
        db,
        "declarations",
        "2024-01",
        {
            "declarations.csv": [
                decl(
                    "X1",
                    "2024-01-10 05:00",
                    "T100",
                    partner_country="KZ",
                    customs_value=100.0,
                    released_at="2024-01-10 07:00",
                ),
                # local 2024-01-31 23:00: still January
                decl("X2", "2024-01-31 18:00", "T999", category=3, customs_value=300.0),
            ]
        },
    )
    deliver(db, "declarations", "2025-01", {"declarations.csv": DECLARATIONS_2025_01})
    deliver(
        db,
        "declarations",
        "2025-02",
        {
            "declarations.csv": [
                decl(
                    "Z1",
                    "2025-02-03 05:00",
                    "T100",
                    partner_country="KZ",
                    customs_value=200.0,
                    released_at="2025-02-03 06:00",
                ),
            ]
        },
    )
    deliver(
        db,
        "lanes",
        "2025-01",
        {
            "lanes.csv": [
                lane("Y1", "GREEN", "2025-01-05 05:10"),
                # Y2 first RED, re-channelled to GREEN: final GREEN
                lane("Y2", "RED", "2025-01-20 19:40", selection="RISK"),
                lane("Y2", "GREEN", "2025-01-21 01:00"),
                lane("Y3", "YELLOW", "2025-01-16 05:10", selection="RISK", finding="NONE"),
                lane("Y5", "GREEN", "2025-01-26 05:10"),
            ]
        },
    )
    deliver(db, "lanes", "2025-02", {"lanes.csv": [lane("Z1", "GREEN", "2025-02-03 05:05")]})
    deliver(
        db,
        "drawback",
        "2025-01",
        {
            "drawback.csv": [
                {
                    "claim_id": "K1",
                    "trader_id": "T100",
                    "lodged_at": ts("2025-01-08 05:00"),
                    "status": "APPROVED",
                    "decided_at": ts("2025-01-18 05:00"),
                    "amount_claimed": 10.0,
                    "amount_approved": 10.0,
                },
                {
                    "claim_id": "K2",
                    "trader_id": "T999",
                    "lodged_at": ts("2025-01-09 05:00"),
                    "amount_claimed": 5.0,
                },
            ]
        },
    )
    deliver(
        db,
        "tickets",
        "2025-01",
        {
            "tickets.csv": [
                {
                    "ticket_id": "S1",
                    "ticket_type": "SERVICE_REQUEST",
                    "opened_at": ts("2025-01-02 05:00"),
                    "due_at": ts("2025-01-10 05:00"),
                    "resolved_at": ts("2025-01-09 05:00"),
                },
                # due local 2025-01-31 17:00, still open: late to local 2025-02-01 00:00 = 7 h -> 1 day
                {
                    "ticket_id": "S2",
                    "ticket_type": "SERVICE_REQUEST",
                    "opened_at": ts("2025-01-03 05:00"),
                    "due_at": ts("2025-01-31 12:00"),
                },
                {"ticket_id": "F1", "ticket_type": "FAILURE", "opened_at": ts("2025-01-15 05:00")},
            ]
        },
    )
    deliver(
        db,
        "tickets",
        "2025-02",
        {
            "tickets.csv": [
                {
                    "ticket_id": "S3",
                    "ticket_type": "SERVICE_REQUEST",
                    "opened_at": ts("2025-02-01 05:00"),
                    "due_at": ts("2025-02-10 05:00"),
                    "resolved_at": ts("2025-02-10 05:00"),
                },
            ]
        },
    )
    deliver(
        db,
        "manual",
        "2025-01",
        {
            "manual.csv": [
                {"kpi_id": "advance_rulings", "value": 12.0},
                {"kpi_id": "aeo_acceptance_rating", "value": 8.0},
            ]
        },
    )
    deliver(db, "manual", "2025-02", {"manual.csv": [{"kpi_id": "advance_rulings", "value": 3.0}]})


def scorecard(db: Path) -> dict[tuple[str, date], dict]:
    names = [
        "kpi_id",
        "kpi_group",
        "month",
        "value",
        "ytd_value",
        "n",
        "unit",
        "baseline",
        "target",
        "status",
        "progress_pct",
    ]
    rows = query(db, f"select {', '.join(names)} from marts.kpi_monthly")
    return {(r[0], r[2]): dict(zip(names, r)) for r in rows}


def table(db: Path, name: str, order: str) -> list[tuple]:
    return query(db, f"select * from {name} order by {order}")


def same_rows(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        for x, y in zip(ra, rb):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12):
                    return False
            elif x != y:
                return False
    return True


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("kpi")
    db = tmp / "work.duckdb"
    load(db)
    dbt(["build"], db, tmp)  # models, seeds, unit tests and data tests
    return db


def test_scorecard_shape(built: Path) -> None:
    # 2024-01 .. 2025-02 = 14 months, 43 catalog KPIs
    months = query(built, "select count(*) from intermediate.int_months")[0][0]
    kpis = query(built, "select count(*) from marts.kpi_catalog")[0][0]
    assert (months, kpis) == (14, 43)
    assert query(built, "select count(*) from marts.kpi_monthly")[0][0] == 14 * 43


def test_scorecard_values(built: Path) -> None:
    s = scorecard(built)
    jan, feb, jan24, jun24 = d("2025-01-01"), d("2025-02-01"), d("2024-01-01"), d("2024-06-01")

    # Applications submitted in local January 2025: A2 (UTC Dec 31 20:00) and A3 -> 2;
    # February: A5 -> ytd 3. Target 10 from baseline 2: progress 100 x (2 - 2) / 8 = 0, then 12.5.
    r = s[("aeo_applications_received", jan)]
    assert (r["value"], r["ytd_value"], r["n"], r["status"], r["progress_pct"]) == (
        2,
        2,
        2,
        "not_met",
        0.0,
    )
    r = s[("aeo_applications_received", feb)]
    assert (r["value"], r["ytd_value"], r["status"], r["progress_pct"]) == (1, 3, "not_met", 12.5)
    assert s[("aeo_applications_received", jan)]["kpi_group"] == "AEO programme uptake"
    # A2: 20 days from submission to decision.
    assert s[("aeo_authorisation_days", jan)]["value"] == pytest.approx(20.0)

    # Active on 2025-01-31: T100, T200, T600 (T400 revoked from 01-15) = 3; on 2024-01-31: T100,
    # T400 = 2 -> change 100 x (3 - 2) / 2 = 50. 2024: the year before is not loaded -> null.
    assert s[("aeo_active_operators", jan)]["value"] == 3
    assert s[("aeo_operators_change_pct", jan)]["value"] == pytest.approx(50.0)
    assert s[("aeo_operators_change_pct", jan24)]["value"] is None

    # Trade value January: 1000 + 500 + 500 + 3000 = 5000 (Y5 is transit); AEO: Y1 1000 (KZ),
    # Y2 500 (DE, AEO on its local date) -> total 30, Central Asia 20, EU/US 10, n = 4.
    assert s[("aeo_trade_share_total", jan)]["value"] == pytest.approx(30.0)
    assert s[("aeo_trade_share_total", jan)]["n"] == 4
    assert s[("aeo_trade_share_central_asia", jan)]["value"] == pytest.approx(20.0)
    assert s[("aeo_trade_share_eu_us", jan)]["value"] == pytest.approx(10.0)
    assert s[("aeo_trade_share_other", jan)]["value"] == pytest.approx(0.0)

    # AEO imports released: Y1 4 h, Y2 8 h -> 6.0; Y3 (revoked) is the non-AEO import: 2.0.
    assert s[("time_to_import_aeo", jan)]["value"] == pytest.approx(6.0)
    assert s[("time_to_import_aeo", jan)]["n"] == 2
    assert s[("time_to_import_non_aeo", jan)]["value"] == pytest.approx(2.0)
    assert s[("time_to_transit_aeo", jan)]["value"] == pytest.approx(1.0)
    # A month with declarations of no kind in scope: mean null, n 0.
    assert s[("time_to_export_aeo", jun24)]["value"] is None
    assert s[("time_to_export_aeo", jun24)]["n"] == 0

    # Final lane GREEN, AEO: Y1, Y2 (RED then GREEN), Y5 -> 3; February Z1 -> ytd 4.
    # January 2024 had declarations but no lanes delivery: null.
    assert s[("aeo_green_lane", jan)]["value"] == 3
    assert s[("aeo_green_lane", feb)]["ytd_value"] == 4
    assert s[("aeo_green_lane", jan24)]["value"] is None
    assert s[("aeo_red_lane", jan)]["value"] == 0

    # Paperless cat 4: Y1, Y2, Y5 (Y3 on paper, Y4 cat 2) -> 3; Z1 -> ytd 4. June 2024: no delivery -> null.
    assert s[("paperless_declarations_cat4", jan)]["value"] == 3
    assert s[("paperless_declarations_cat4", feb)]["ytd_value"] == 4
    assert s[("paperless_declarations_cat2", jan)]["value"] == 1
    # 4 of the 5 declarations of January were paperless (Y3 was not).
    assert s[("paperless_share", jan)]["value"] == pytest.approx(100 * 4 / 5)
    assert s[("paperless_declarations_cat4", jun24)]["value"] is None
    assert s[("paperless_declarations_cat4", jun24)]["ytd_value"] == 1  # X1 in January 2024

    # Drawback: K1 by an AEO, K2 not; no delivery in February -> null, ytd still 1.
    assert s[("drawback_claims_aeo", jan)]["value"] == 1
    assert s[("drawback_claims_aeo", feb)]["value"] is None
    assert s[("drawback_claims_aeo", feb)]["ytd_value"] == 1
    assert s[("drawback_days_aeo", jan)]["value"] == pytest.approx(10.0)

    # SLA: S1 on time, S2 open 1 day late -> 100 x 1 / (2 + 0.5) = 40 (below the minimum 96);
    # February: S3 resolved at the due instant -> 100, goal.
    r = s[("sla_timely_processing_rate", jan)]
    assert (r["value"], r["n"], r["status"]) == (pytest.approx(40.0), 2, "below_minimum")
    assert s[("sla_timely_processing_rate", feb)]["status"] == "goal"
    assert (s[("system_failures", jan)]["value"], s[("system_failures", jan)]["status"]) == (
        1,
        "basic",
    )
    assert (s[("system_failures", feb)]["value"], s[("system_failures", feb)]["status"]) == (
        0,
        "goal",
    )
    assert s[("system_failures", jun24)]["value"] is None

    # Manual: advance_rulings 12 + 3 -> ytd 15, n null; acceptance 8 vs 10 from 2: 75 %.
    r = s[("advance_rulings", feb)]
    assert (r["value"], r["ytd_value"], r["n"]) == (3, 15, None)
    r = s[("aeo_acceptance_rating", jan)]
    assert (r["value"], r["status"], r["progress_pct"], r["baseline"], r["target"]) == (
        8,
        "not_met",
        75.0,
        2,
        10,
    )
    assert s[("aeo_acceptance_rating", feb)]["status"] is None


def test_trs_monthly(built: Path) -> None:
    rows = query(
        built,
        """
        select declarations, released_declarations, mean_hours_lodged_to_release,
               median_hours_lodged_to_release, released_within_24h_share
        from marts.trs_monthly
        where month = date '2025-01-01' and declaration_type = 'IM' and is_aeo
          and final_lane = 'GREEN' and transport_mode = 'ROAD'
    """,
    )
    # Y1 (4 h) and Y2 (8 h): mean 6, median 6, both within 24 h.
    assert rows == [(2, 2, 6.0, 6.0, 100.0)]
    # X2 (January 2024) has no lane row and was not released.
    rows = query(
        built,
        """
        select declarations, released_declarations, mean_hours_lodged_to_release, released_within_24h_share
        from marts.trs_monthly
        where month = date '2024-01-01' and final_lane is null and not is_aeo
    """,
    )
    assert rows == [(1, 0, None, 0.0)]


def test_incremental_month_equals_full_refresh(built: Path, tmp_path: Path) -> None:
    db = built
    before = scorecard(db)
    # Re-deliver January 2025 with one more AEO import, rebuild only [2025-01, 2025-03).
    deliver(db, "declarations", "2025-01", {"declarations.csv": [*DECLARATIONS_2025_01, Y6]})
    set_build_window(db, "2025-01", "2025-03")
    dbt(["run", *RUN_SELECTION], db, tmp_path / "incremental")
    after = scorecard(db)

    jan, feb = d("2025-01-01"), d("2025-02-01")
    # (4 + 8 + 12) / 3 = 8; trade 6000, AEO 2500 -> 41.67; paperless cat 4: 4, ytd February 5.
    assert after[("time_to_import_aeo", jan)]["value"] == pytest.approx(8.0)
    assert after[("aeo_trade_share_total", jan)]["value"] == pytest.approx(100 * 2500 / 6000)
    assert after[("paperless_declarations_cat4", feb)]["ytd_value"] == 5
    assert (
        before[("time_to_import_aeo", d("2024-01-01"))]
        == after[("time_to_import_aeo", d("2024-01-01"))]
    )

    snapshot = {m: table(db, f"intermediate.{m}", "kpi_id, month") for m in KPI_MODELS}
    snapshot["kpi_monthly"] = table(db, "marts.kpi_monthly", "kpi_id, month")
    order = "month, declaration_type, transport_mode, is_aeo, final_lane nulls first"
    snapshot["trs_monthly"] = table(db, "marts.trs_monthly", order)

    dbt(["run", "--full-refresh", *RUN_SELECTION], db, tmp_path / "full")
    for name, rows in snapshot.items():
        schema = "marts" if name in ("kpi_monthly", "trs_monthly") else "intermediate"
        full = table(db, f"{schema}.{name}", order if name == "trs_monthly" else "kpi_id, month")
        assert same_rows(rows, full), f"{name}: incremental rebuild differs from a full refresh"
