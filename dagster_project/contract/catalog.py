"""Code sets that live in dbt seeds (the KPI catalog), read when a load starts."""

from __future__ import annotations

import csv
from pathlib import Path

from dagster_project.settings import DBT_DIR

KPI_CATALOG_SEED = DBT_DIR / "seeds" / "kpi_catalog.csv"


def manual_kpi_ids(seed: Path = KPI_CATALOG_SEED) -> frozenset[str]:
    """KPI ids whose source is `manual`: the codes the manual feed may carry."""
    if not seed.is_file():
        raise FileNotFoundError(f"KPI catalog seed not found: {seed}")
    with seed.open(newline="", encoding="utf-8") as fh:
        return frozenset(
            row["kpi_id"].strip().lower()
            for row in csv.DictReader(fh)
            if row["source"].strip() == "manual"
        )


def code_sets() -> dict[str, frozenset[str]]:
    """Named code sets referenced by `Column.codes_from`."""
    return {"manual_kpis": manual_kpi_ids()}
