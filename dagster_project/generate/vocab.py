"""Fixed vocabularies and weights of the synthetic administration (tuples: stable order).

The code lists are the contract's (`codes`): a code column's values are
indexes into its list there, and the weights below follow that order.
"""

from __future__ import annotations

from collections.abc import Sized

import numpy as np

from dagster_project.contract import feed_by_name


def codes(feed: str, column: str) -> tuple[str, ...]:
    """The code list of a contract column; the generator holds a code as an index into it."""
    return feed_by_name(feed).column(column).codes


# Months are numbered year * 12 + month - 1 throughout the generator.
GO_LIVE_MONTH = 2024 * 12 + 6  # Single Window go-live, 2024-07
STORY_START_MONTH = 2024 * 12  # 2024-01: where the slow trends of the story start

MANUAL_KPIS = (
    "aeo_acceptance_rating",
    "service_commitments_published",
    "aeo_benefits_provided",
    "officer_deployments",
    "advance_rulings",
)

DECLARATION_TYPES = codes("declarations", "declaration_type")
TYPE_P = (0.55, 0.30, 0.15)

MODES = codes("declarations", "transport_mode")
MODE_P_BY_TYPE = (
    (0.06, 0.14, 0.42, 0.18, 0.17, 0.03),  # IM
    (0.07, 0.08, 0.50, 0.30, 0.03, 0.02),  # EX
    (0.00, 0.02, 0.60, 0.35, 0.00, 0.03),  # TR
)
# Release-time multiplier per mode (SEA .. OTHER)
MODE_SPEED = np.array([1.4, 0.7, 1.0, 1.25, 0.9, 1.1])

# Offices and the modes they serve (index into MODES).
OFFICES = (
    "ALA-01",
    "ALA-02",
    "AST-01",
    "KHR-01",
    "DST-01",
    "AKT-01",
    "SHY-01",
    "ALA-AIR",
    "AST-AIR",
    "POST-01",
    "AKT-SEA",
)
OFFICES_BY_MODE = (
    (10,),  # SEA
    (7, 8),  # AIR
    (0, 1, 2, 3, 5, 6),  # ROAD
    (3, 4, 2, 5),  # RAIL
    (9,),  # POST
    (0, 2, 6),  # OTHER
)

# Partner countries per declaration type: all four regions of the KPI catalog trade.
PARTNERS = (
    "CN",
    "RU",
    "KZ",
    "DE",
    "US",
    "KR",
    "TR",
    "UZ",
    "KG",
    "TJ",
    "TM",
    "IT",
    "NL",
    "PL",
    "FR",
    "LT",
    "JP",
    "HK",
    "TW",
    "MN",
    "AE",
    "IN",
    "BY",
    "GE",
    "AZ",
    "IR",
    "AF",
    "GB",
    "CH",
    "UA",
)
PARTNER_W_BY_TYPE = (
    # CN  RU  KZ  DE  US  KR  TR  UZ  KG  TJ  TM  IT  NL  PL  FR  LT  JP  HK  TW  MN  AE  IN  BY  GE  AZ  IR  AF  GB  CH  UA
    (
        30,
        20,
        9,
        7,
        4,
        6,
        5,
        3,
        1,
        0.5,
        0.5,
        2,
        1.5,
        1.5,
        1,
        1,
        2,
        1,
        0.7,
        0.3,
        1.5,
        1.2,
        1,
        0.3,
        0.3,
        0.5,
        0.1,
        0.8,
        0.5,
        0.5,
    ),
    (
        18,
        25,
        10,
        4,
        2,
        2,
        5,
        9,
        6,
        4,
        2,
        3,
        3,
        1,
        1,
        1,
        1,
        0.5,
        0.2,
        0.5,
        1,
        1,
        1,
        1,
        1,
        1,
        2,
        0.5,
        0.5,
        0.5,
    ),
    (
        10,
        22,
        25,
        2,
        0.5,
        1,
        3,
        14,
        9,
        4,
        5,
        0.3,
        0.5,
        1,
        0.2,
        1,
        0.2,
        0,
        0,
        1,
        0.3,
        0.2,
        1,
        1,
        1,
        0.5,
        1,
        0,
        0,
        0.5,
    ),
)

# HS chapters per declaration type (two digits); the rest of the code is random.
HS_CHAPTERS = (
    84,
    85,
    87,
    39,
    72,
    27,
    61,
    62,
    64,
    94,
    30,
    33,
    10,
    8,
    2,
    44,
    73,
    90,
    95,
    26,
    31,
    52,
    71,
    40,
    48,
)

CATEGORY_P_POST = (0.30, 0.40, 0.30, 0.00)
CATEGORY_P_OTHER = (0.00, 0.07, 0.13, 0.80)
VALUE_MEDIAN_BY_CATEGORY = np.array([5_000.0, 40_000.0, 150_000.0, 3_000_000.0])
VALUE_SIGMA_BY_CATEGORY = np.array([0.8, 0.7, 0.8, 1.3])

LANES = codes("lanes", "lane")
LANE_P_AEO = (0.86, 0.10, 0.03, 0.01)
LANE_P_OTHER = (0.70, 0.19, 0.095, 0.015)
# Release hours (median, sigma) by final lane, in the steady state after go-live.
RELEASE_MEDIAN_H = np.array([0.5, 4.0, 30.0, 0.5])
RELEASE_SIGMA = np.array([1.0, 0.85, 0.75, 1.0])
SELECTIONS = codes("lanes", "selection")
SELECTION_P = (0.80, 0.12, 0.08)
FINDINGS = codes("lanes", "finding")
# P(discrepancy), P(seizure) of a completed check, by final lane (YELLOW, RED) and selection.
HIT_P = {
    1: ((0.09, 0.005), (0.03, 0.0), (0.07, 0.003)),
    2: ((0.16, 0.02), (0.06, 0.005), (0.12, 0.01)),
}
RISK_RULES = tuple(f"R{n:03d}" for n in range(1, 41))
RULE_IDS = RISK_RULES + ("RND-1", "RND-2", "OFC-A", "OFC-B", "OFC-C", "PCA-1", "PCA-2")
RANDOM_RULES = (40, 41)
OFFICER_RULES = (42, 43, 44)
PCA_RULES = (45, 46)

DRAWBACK_STATUSES = codes("drawback", "status")

TICKET_TYPES = codes("tickets", "ticket_type")
SYSTEMS = (
    "Clearance system",
    "Single Window portal",
    "Risk management, selectivity",
    "Payments; e-banking gateway",
    "AEO register",
    "Drawback module",
    "Reporting, statistics",
    "User accounts; access",
)
SYSTEM_P = (0.30, 0.25, 0.08, 0.10, 0.05, 0.07, 0.07, 0.08)
SR_DUE_DAYS = (1, 2, 3, 5, 10)
SR_DUE_P = (0.15, 0.30, 0.30, 0.20, 0.05)

DECISIONS = codes("aeo_register", "decision")

MANUAL_NOTES = (
    "Quarterly survey of certified operators, weighted by trade value",
    "Pledges published on the customs portal; see the monthly notice",
    "Orders signed by the Chairman, counted by the AEO unit",
    "Deployments at licensed warehouses, including Khorgos dry port",
    "Rulings issued by the tariff department",
    "Counted by the AEO unit;\nfigures checked by the head of unit",
)

# Tables with one entry per code of a code column, in the contract's order: the generator
# refuses to run when one's length is not the column's number of codes (`synth.check_contract`).
# A code column without weights here is drawn as its feed's month function chooses (uniform, say).
CODE_WEIGHTS: dict[tuple[str, str], tuple[Sized, ...]] = {
    ("declarations", "declaration_type"): (TYPE_P, MODE_P_BY_TYPE, PARTNER_W_BY_TYPE),
    ("declarations", "transport_mode"): (*MODE_P_BY_TYPE, MODE_SPEED, OFFICES_BY_MODE),
    ("lanes", "lane"): (LANE_P_AEO, LANE_P_OTHER, RELEASE_MEDIAN_H, RELEASE_SIGMA),
    ("lanes", "selection"): (SELECTION_P, *HIT_P.values()),
}
