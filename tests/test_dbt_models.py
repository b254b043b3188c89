"""The dbt project on a real DuckDB work database: build, month-incremental rebuild, time zones."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import pytest

from dagster_project.contract.countries import ISO_3166_ALPHA2, default_region
from dagster_project.settings import DBT_DIR
from tests.dbt_fixtures import (
    DbtRun,
    create_work_db,
    deliver,
    failures,
    query,
    rows_by_id,
    run_dbt,
    set_build_window,
    ts,
)

pytestmark = pytest.mark.slow

# The part of the project this file covers (the KPI models have tests of their own);
# `cautious` leaves out tests that also read unselected models.
SELECTION = [
    "--select",
    "+fct_declarations",
    "+int_drawback_claims",
    "+int_months",
    "+int_feed_deliveries",
    "stg_tickets",
    "stg_manual",
    "country_regions",
    "--indirect-selection",
    "cautious",
]

T_AEO = "000100"  # certified 2024-01-15 (restated later as 2024-01-10), revoked from 2024-03-10
T_OLD = "000900"  # certified only in a superseded snapshot: never an AEO


def decl(declaration_id: str, lodged: str, **kw) -> dict:
    return {"declaration_id": declaration_id, "lodged_at": ts(lodged), **kw}


def lane(declaration_id: str, code: str, assigned: str, **kw) -> dict:
    return {"declaration_id": declaration_id, "lane": code, "assigned_at": ts(assigned), **kw}


def register(a1_valid_from: str) -> list[dict]:
    return [
        {
            "application_id": "A1",
            "trader_id": T_AEO,
            "submitted_at": ts("2023-11-01 09:00"),
            "decision": "APPROVED",
            "decided_at": ts("2024-01-10 09:00"),
            "valid_from": date.fromisoformat(a1_valid_from),
            "revoked_at": date(2024, 3, 10),
        },
        {
            "application_id": "A2",
            "trader_id": "000200",
            "submitted_at": ts("2024-03-05 09:00"),
            "decision": "PENDING",
        },
    ]


def load_months(db: Path) -> None:
    deliver(
        db,
        "declarations",
        "2024-01",
        {
            "declarations.csv": [
                decl(
                    "J1",
                    "2024-01-14 10:00",
                    trader_id=T_AEO,
                    partner_country="KZ",
                    arrival_at=ts("2024-01-14 08:00"),
                    released_at=ts("2024-01-15 10:00"),
                ),
                decl(
                    "J2",
                    "2024-01-15 00:00",
                    trader_id=T_AEO,
                    partner_country="DE",
                    declaration_type="EX",
                    released_at=ts("2024-01-15 02:30:00.500000"),
                ),
                decl("J3", "2024-01-31 23:00", trader_id="00123"),
                decl("J4", "2024-01-20 10:00", trader_id=T_OLD),
            ]
        },
    )
    deliver(
        db,
        "declarations",
        "2024-02",
        {
            "declarations.csv": [
                decl(
                    "F1",
                    "2024-02-10 12:00",
                    trader_id=T_AEO,
                    partner_country="US",
                    arrival_at=ts("2024-02-11 00:00"),
                    released_at=ts("2024-02-10 20:00"),
                ),
                decl(
                    "F2",
                    "2024-02-20 08:00",
                    declaration_type="TR",
                    released_at=ts("2024-02-21 14:00"),
                ),
            ]
        },
    )
    deliver(
        db,
        "declarations",
        "2024-03",
        {
            "declarations.csv": [
                decl("M1", "2024-03-09 12:00", trader_id=T_AEO),
                decl("M2", "2024-03-10 00:00", trader_id=T_AEO),
            ]
        },
    )
    deliver(
        db,
        "lanes",
        "2024-01",
        {
            "lanes.csv": [
                lane("J1", "GREEN", "2024-01-14 10:05"),
                lane("J3", "GREEN", "2024-01-31 23:30"),
            ]
        },
    )
    deliver(
        db,
        "lanes",
        "2024-02",
        {
            "lanes_a.csv": [
                lane("J3", "RED", "2024-02-01 09:00", selection="RISK", finding="SEIZURE"),
                lane("F1", "YELLOW", "2024-02-10 12:05", selection="OFFICER", finding="NONE"),
            ],
            "lanes_b.csv": [
                lane("F1", "RED", "2024-02-10 12:05", selection="RANDOM", finding="DISCREPANCY"),
                lane("X1", "GREEN", "2024-02-15 10:00"),
            ],
        },
    )
    deliver(db, "lanes", "2024-03", {"lanes.csv": [lane("M1", "GREEN", "2024-03-09 12:01")]})
    deliver(
        db,
        "aeo_register",
        "2024-02",
        {
            "register.csv": [
                register("2024-01-15")[0],
                {
                    "application_id": "A9",
                    "trader_id": T_OLD,
                    "submitted_at": ts("2022-05-01 09:00"),
                    "decision": "APPROVED",
                    "decided_at": ts("2022-12-01 09:00"),
                    "valid_from": date(2023, 1, 1),
                },
            ]
        },
    )
    deliver(db, "aeo_register", "2024-03", {"register.csv": register("2024-01-15")})
    deliver(
        db,
        "drawback",
        "2024-01",
        {
            "drawback.csv": [
                {
                    "claim_id": "C1",
                    "trader_id": T_AEO,
                    "lodged_at": ts("2024-01-16 09:00"),
                    "status": "APPROVED",
                    "decided_at": ts("2024-01-17 21:00"),
                    "amount_claimed": 100.0,
                },
            ]
        },
    )
    deliver(
        db,
        "tickets",
        "2024-01",
        {
            "tickets.csv": [
                {
                    "ticket_id": "K1",
                    "ticket_type": "SERVICE_REQUEST",
                    "opened_at": ts("2024-01-03 09:00"),
                    "due_at": ts("2024-01-05 17:00"),
                },
            ]
        },
    )
    deliver(
        db,
        "manual",
        "2024-04",
        {
            "manual.csv": [
                {"kpi_id": "aeo_acceptance_rating", "value": 7.5},
            ]
        },
    )


@pytest.fixture
def work_db(tmp_path, monkeypatch) -> Path:
    db = tmp_path / "work.duckdb"
    create_work_db(db)
    monkeypatch.setenv("CUSTOMS_KPI_WORK_DB", str(db))
    monkeypatch.setenv("CUSTOMS_KPI_TZ", "UTC")
    return db


def build(tmp_path: Path, *extra: str) -> DbtRun:
    run = run_dbt(["build", *SELECTION, *extra], tmp_path)
    assert run.success, "\n".join(failures(run))
    return run


def fct_rows(db: Path) -> list[tuple]:
    return query(db, "SELECT * FROM marts.fct_declarations ORDER BY declaration_id")


def undocumented(db: Path, run: DbtRun, manifest_path: Path) -> list[str]:
    """Columns of the models and seeds `run` built, and of the sources, without a description
    in their YAML (or documented but absent)."""
    manifest = json.loads(manifest_path.read_text())
    built = {r.unique_id for r in run.results}
    nodes = [
        n
        for uid, n in manifest["nodes"].items()
        if uid in built and n["resource_type"] in ("model", "seed")
    ]
    missing = []
    for node in [*nodes, *manifest["sources"].values()]:
        schema, name = node["schema"], node.get("identifier") or node["alias"]
        actual = [
            r[0]
            for r in query(
                db,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            )
        ]
        if not actual:
            missing.append(f"{schema}.{name} (not built)")
        documented = {c: (v.get("description") or "").strip() for c, v in node["columns"].items()}
        missing += [f"{schema}.{name}.{c}" for c in actual if not documented.get(c)]
        published_only = {
            c
            for c, v in node["columns"].items()
            if ((v.get("config") or {}).get("meta") or v.get("meta") or {}).get("published_only")
        }
        missing += [
            f"{schema}.{name}.{c} (not a column)"
            for c in documented
            if c not in actual and c not in published_only
        ]
        if not (node.get("description") or "").strip():
            missing.append(f"{schema}.{name} (no description)")
    return missing


def test_build_then_monthly_rebuild_equals_full_refresh(work_db, tmp_path):
    load_months(work_db)
    set_build_window(work_db, "2024-01", "2024-05")
    first = build(tmp_path)
    assert undocumented(work_db, first, tmp_path / "dbt_target" / "manifest.json") == []

    fct = rows_by_id(work_db, "marts.fct_declarations", "declaration_id")
    assert sorted(fct) == ["F1", "F2", "J1", "J2", "J3", "J4", "M1", "M2"]
    j1, j2, j3, f1, f2 = fct["J1"], fct["J2"], fct["J3"], fct["F1"], fct["F2"]
    assert (j1["month"], j1["region"], j1["is_trade"]) == (date(2024, 1, 1), "central_asia", True)
    assert j1["is_aeo"] is False  # the day before valid_from
    assert j1["hours_lodged_to_release"] == 24.0 and j1["released_within_24h"] is True
    assert j1["hours_arrival_to_lodged"] == 2.0 and j1["released_before_arrival"] is False
    assert j2["is_aeo"] is True and j2["region"] == "eu_us"
    assert j2["hours_lodged_to_release"] == pytest.approx(2.5 + 0.5 / 3600, abs=1e-12)
    assert j3["trader_id"] == "00123"
    assert (j3["first_lane"], j3["final_lane"], j3["final_selection"], j3["final_finding"]) == (
        "GREEN",
        "RED",
        "RISK",
        "SEIZURE",
    )
    assert j3["lane_rows"] == 2 and j3["is_released"] is False and j3["released_within_24h"] is None
    assert fct["J4"]["is_aeo"] is False  # certified only in a superseded snapshot
    assert (f1["first_lane"], f1["final_lane"], f1["final_selection"]) == (
        "YELLOW",
        "RED",
        "RANDOM",
    )
    assert f1["released_before_arrival"] is True
    assert (f1["hours_arrival_to_lodged"], f1["hours_arrival_to_release"]) == (-12.0, -4.0)
    assert (f2["is_trade"], f2["released_within_24h"], f2["hours_lodged_to_release"]) == (
        False,
        False,
        30.0,
    )
    assert (f2["lane_rows"], f2["first_lane"]) == (0, None)
    assert (fct["M1"]["is_aeo"], fct["M2"]["is_aeo"]) == (True, False)  # revoked_at is exclusive

    def one_column(sql: str) -> list:
        return [r[0] for r in query(work_db, sql)]

    assert "X1" not in fct  # a lane row whose declaration was never loaded adds no row
    assert query(
        work_db, "SELECT application_id, valid_until FROM intermediate.int_aeo_certificates"
    ) == [("A1", date(2024, 3, 10))]
    assert one_column("SELECT month FROM intermediate.int_months ORDER BY month") == [
        date(2024, m, 1) for m in (1, 2, 3, 4)
    ]
    assert one_column(
        "SELECT month FROM intermediate.int_feed_deliveries WHERE feed = 'tickets'"
    ) == [date(2024, 1, 1)]
    assert query(
        work_db, "SELECT is_aeo, days_to_decision FROM intermediate.int_drawback_claims"
    ) == [(True, 1.5)]

    # February is re-delivered (F1 changed, F2 withdrawn, F3 new); March brings a lane row for a
    # January declaration and a register snapshot that moves A1's start back before J1.
    deliver(
        work_db,
        "declarations",
        "2024-02",
        {
            "declarations.csv": [
                decl(
                    "F1",
                    "2024-02-10 12:00",
                    trader_id=T_AEO,
                    partner_country="US",
                    arrival_at=ts("2024-02-11 00:00"),
                    released_at=ts("2024-02-10 22:00"),
                ),
                decl("F3", "2024-02-25 08:00", declaration_type="EX"),
            ]
        },
    )
    deliver(
        work_db,
        "lanes",
        "2024-03",
        {
            "lanes.csv": [
                lane("M1", "GREEN", "2024-03-09 12:01"),
                lane("J3", "GREEN", "2024-03-02 08:00"),
            ]
        },
    )
    deliver(work_db, "aeo_register", "2024-03", {"register.csv": register("2024-01-10")})
    # The window the orchestrator builds: the lane row for J3 and the restated certificate reach
    # back to January, so the loads mark January dirty (tests/test_loader.py covers that marking);
    # the window runs on to the last loaded month.
    set_build_window(work_db, "2024-01", "2024-05")
    # Every fixture row has office KZ01: mark them to see which rows the monthly run rebuilds.
    query(work_db, "UPDATE marts.fct_declarations SET office_code = 'KEPT'")
    build(tmp_path)
    assert one_column(
        "SELECT declaration_id FROM marts.fct_declarations WHERE office_code <> 'KEPT' ORDER BY 1"
    ) == ["F1", "F3", "J1", "J2", "J3", "J4", "M1", "M2"]
    query(work_db, "UPDATE marts.fct_declarations SET office_code = 'KZ01'")

    incremental = fct_rows(work_db)
    build(tmp_path, "--full-refresh")
    assert incremental == fct_rows(work_db)
    fct = rows_by_id(work_db, "marts.fct_declarations", "declaration_id")
    assert sorted(fct) == ["F1", "F3", "J1", "J2", "J3", "J4", "M1", "M2"]
    assert fct["J1"]["is_aeo"] is True and fct["F1"]["hours_lodged_to_release"] == 10.0
    assert (fct["J3"]["final_lane"], fct["J3"]["lane_rows"]) == ("GREEN", 3)


def test_months_and_aeo_days_are_cut_in_the_administration_time_zone(
    work_db, tmp_path, monkeypatch
):
    # Asia/Almaty: UTC+6 until 2024-03-01 00:00 local, UTC+5 from then on.
    monkeypatch.setenv("CUSTOMS_KPI_TZ", "Asia/Almaty")
    deliver(
        work_db,
        "declarations",
        "2024-02",
        {
            "declarations.csv": [
                decl("Z3", "2024-02-29 18:30", trader_id=T_AEO),  # 2024-02-29 23:30 local
            ]
        },
    )
    deliver(
        work_db,
        "declarations",
        "2024-03",
        {
            "declarations.csv": [
                decl("Z1", "2024-02-29 19:30", trader_id=T_AEO),  # 2024-03-01 00:30 local
            ]
        },
    )
    deliver(
        work_db,
        "declarations",
        "2024-04",
        {
            "declarations.csv": [
                decl("Z2", "2024-03-31 19:30", trader_id=T_AEO),  # 2024-04-01 00:30 local
            ]
        },
    )
    deliver(
        work_db,
        "aeo_register",
        "2024-04",
        {
            "register.csv": [
                {
                    "application_id": "A1",
                    "trader_id": T_AEO,
                    "submitted_at": ts("2024-01-02 09:00"),
                    "decision": "APPROVED",
                    "decided_at": ts("2024-02-20 09:00"),
                    "valid_from": date(2024, 3, 1),
                },
            ]
        },
    )
    set_build_window(work_db, "2024-02", "2024-05")
    build(tmp_path)

    got = {
        r[0]: r[1:]
        for r in query(
            work_db,
            "SELECT declaration_id, month, lodged_date_local, is_aeo FROM marts.fct_declarations",
        )
    }
    assert got == {
        "Z3": (date(2024, 2, 1), date(2024, 2, 29), False),
        "Z1": (date(2024, 3, 1), date(2024, 3, 1), True),
        "Z2": (date(2024, 4, 1), date(2024, 4, 1), True),
    }
    local = query(
        work_db, "SELECT lodged_at_local FROM staging.stg_declarations WHERE declaration_id = 'Z1'"
    )
    assert local == [(datetime(2024, 3, 1, 0, 30),)]


def test_country_regions_seed_covers_exactly_the_iso_codes():
    with open(DBT_DIR / "seeds" / "country_regions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["country_code"] for r in rows] == sorted(ISO_3166_ALPHA2)
    assert {r["country_code"]: r["region"] for r in rows} == {
        c: default_region(c) for c in ISO_3166_ALPHA2
    }
