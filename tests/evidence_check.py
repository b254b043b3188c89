"""Each KPI value of a published warehouse recomputed from its evidence records (marts.kpi_evidence),
written out per aggregation independently of the project's SQL summary."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from pathlib import Path

from dagster_project.explain.evidence import explain_all, kpi_specs
from dagster_project.publish.publisher import open_published


def evidence_rows(con) -> dict[tuple[str, date], list[tuple]]:
    rows = defaultdict(list)
    for kpi_id, month, kind, rid, num, den, measure in con.execute(
        "SELECT kpi_id, month, record_kind, record_id, in_numerator, in_denominator, measure FROM marts.kpi_evidence"
    ).fetchall():
        rows[(kpi_id, month)].append((kind, rid, num, den, measure))
    return rows


def aggregate(
    aggregation: str, records: list[tuple], delivered: bool
) -> tuple[float | None, int | None]:
    """(value, n) from the records, written out per aggregation (independent of the module's SQL summary)."""
    num = [r for r in records if r[2]]
    den = [r for r in records if r[3]]
    if aggregation == "mean":
        return (math.fsum(r[4] for r in num) / len(num) if num else None), len(den)
    if aggregation == "share":
        return (100.0 * len([r for r in den if r[2]]) / len(den) if den else None), len(den)
    if aggregation == "weighted_share":
        total = math.fsum(r[4] for r in den if r[4] is not None)
        part = math.fsum(r[4] for r in den if r[2] and r[4] is not None)
        return (100.0 * part / total if den and total else None), len(den)
    if aggregation == "count":
        return (float(len(num)), len(num)) if delivered else (None, None)
    if aggregation == "distinct_count":
        ids = {r[1] for r in num}
        return float(len(ids)), len(ids)
    if aggregation == "change_pct":
        now, before = {r[1] for r in num}, {r[1] for r in den}
        return (
            (100.0 * (len(now) - len(before)) / len(before), len(now)) if before else (None, None)
        )
    if aggregation == "sla_rate":
        base = len(den) + 0.5 * math.fsum(r[4] for r in den if r[4] is not None)
        return (100.0 * len([r for r in den if r[2]]) / base if base else None), len(den)
    if aggregation == "manual":
        assert len(records) <= 1, records
        return (records[0][4] if records else None), None
    raise AssertionError(aggregation)


def recompute_every_kpi(published_db: Path) -> tuple[dict, dict]:
    """Recompute every KPI value of every published month from its evidence records and assert
    it equals the published one (exact for counts and n, 1e-9 relative for means and shares).
    Returns the published (value, n) per (kpi, month) and how many months had a value per KPI."""
    specs = kpi_specs()
    with open_published(published_db) as con:
        catalog = dict(con.execute("SELECT kpi_id, source FROM marts.kpi_catalog").fetchall())
        rows = con.execute(
            "SELECT kpi_id, month, value, n, quality FROM marts.kpi_monthly"
        ).fetchall()
        published = {(k, m): (v, n) for k, m, v, n, _ in rows}
        quality = {(k, m): q for k, m, _, _, q in rows}
        delivered = set(con.execute("SELECT DISTINCT feed, month FROM marts.load_audit").fetchall())
        evidence = evidence_rows(con)
        explained = explain_all(con, top_rows=0)
    assert set(specs) == set(catalog), "kpi_evidence.yml must cover exactly the catalog"
    assert {k for k, s in specs.items() if s.aggregation == "manual"} == {
        k for k, s in catalog.items() if s == "manual"
    }
    # no record outside a published KPI and month
    assert set(evidence) <= set(published), set(evidence) - set(published)

    seen_values = defaultdict(int)
    for (kpi_id, month), (value, n) in sorted(published.items()):
        spec = specs[kpi_id]
        if quality[(kpi_id, month)].startswith("withheld"):  # no value, no record
            assert (value, n) == (None, None) and not evidence.get((kpi_id, month)), (kpi_id, month)
            assert explained[(kpi_id, month)].matches, (kpi_id, month)
            continue
        ok = all((feed, month) in delivered for feed in spec.feeds)
        got_value, got_n = aggregate(spec.aggregation, evidence.get((kpi_id, month), []), ok)
        where = f"{kpi_id} {month:%Y-%m} ({spec.aggregation})"
        assert got_n == n, (where, got_n, n)
        if (
            spec.aggregation in ("count", "distinct_count", "manual")
            or value is None
            or got_value is None
        ):
            assert got_value == value, (where, got_value, value)
        else:
            assert math.isclose(got_value, value, rel_tol=1e-9, abs_tol=0.0), (
                where,
                got_value,
                value,
            )
        if value is not None:
            seen_values[kpi_id] += 1
        # the module behind `customs-kpi explain` and the report agrees
        assert explained[(kpi_id, month)].matches, where
    return published, seen_values
