"""Valid example rows per feed (text, as a file would hold them) and file writers for tests."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date
from pathlib import Path

from dagster_project.contract import Feed

MONTH = date(2024, 3, 1)
MANUAL_KPIS = frozenset(
    {
        "aeo_acceptance_rating",
        "service_commitments_published",
        "aeo_benefits_provided",
        "officer_deployments",
        "advance_rulings",
    }
)
CODE_SETS = {"manual_kpis": MANUAL_KPIS}

VALID: dict[str, dict[str, str]] = {
    "declarations": {
        "declaration_id": "D0001",
        "declaration_type": "IM",
        "office_code": "KZ01",
        "transport_mode": "ROAD",
        "trader_id": "000123456",
        "category": "4",
        "is_paperless": "true",
        "partner_country": "CN",
        "hs_code": "84713000",
        "customs_value": "1500.50",
        "duty_amount": "75.25",
        "clearance_cost": "12",
        "arrival_at": "2024-03-10 08:00:00",
        "lodged_at": "2024-03-10 09:00:00",
        "released_at": "2024-03-10 11:30:00",
        "edoc_seconds": "9.8",
    },
    "lanes": {
        "declaration_id": "D0001",
        "lane": "RED",
        "assigned_at": "2024-03-10 09:05:00",
        "selection": "RISK",
        "rule_id": "R17",
        "inspection_ended_at": "2024-03-10 11:00:00",
        "finding": "NONE",
    },
    "drawback": {
        "claim_id": "C0001",
        "trader_id": "000123456",
        "declaration_id": "D0002",
        "lodged_at": "2024-03-11 10:00",
        "status": "APPROVED",
        "decided_at": "2024-03-20 10:00",
        "amount_claimed": "500",
        "amount_approved": "450",
    },
    "tickets": {
        "ticket_id": "T0001",
        "ticket_type": "SERVICE_REQUEST",
        "system": "UNI-PASS export",
        "opened_at": "2024-03-05 09:00",
        "due_at": "2024-03-08 17:00",
        "resolved_at": "2024-03-07 12:00",
    },
    "aeo_register": {
        "application_id": "A0001",
        "trader_id": "000123456",
        "submitted_at": "2023-11-02 10:00",
        "decision": "APPROVED",
        "decided_at": "2024-01-15 10:00",
        "valid_from": "2024-02-01",
        "valid_to": "",
        "revoked_at": "",
    },
    "manual": {"kpi_id": "advance_rulings", "value": "12", "note": "from the tariff department"},
}

KEY_SUFFIX = 0


def numbered(feed: Feed, n: int, **overrides: str) -> dict[str, str]:
    """A valid row with a distinct key (where the feed has one)."""
    row = dict(VALID[feed.name])
    if feed.key and feed.kind != "manual":
        row[feed.key] = f"{row[feed.key]}-{n}"
    row.update(overrides)
    return row


def csv_text(
    header: list[str], rows: list[list[str]], delimiter: str = ",", newline: str = "\n"
) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_feed_file(
    raw_dir: Path,
    feed: Feed,
    rows: list[dict[str, str]],
    *,
    month: date = MONTH,
    name: str = "extract.csv",
    delimiter: str = ",",
    newline: str = "\n",
    bom: bool = False,
    columns: list[str] | None = None,
) -> Path:
    columns = columns or feed.column_names
    text = csv_text(columns, [[r.get(c, "") for c in columns] for r in rows], delimiter, newline)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    folder = raw_dir / feed.name / f"{month:%Y-%m}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
