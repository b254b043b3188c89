"""What the scorecard report shows, read from the published warehouse (never the work database)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from dagster_project.publish.publisher import open_published
from dagster_project.settings import DBT_DIR, Settings

LANES = ("GREEN", "YELLOW", "RED", "BLUE", None)
CATEGORIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class KpiRow:
    month: date
    kpi_id: str
    kpi_group: str
    indicator: str
    unit: str
    direction: str
    basis: str
    source: str
    value: float | None
    ytd_value: float | None
    n: int | None
    baseline: float | None
    target: float | None
    status: str | None
    progress_pct: float | None
    quality: str = "ok"  # ok | withheld: ... | override: ...

    @property
    def withheld(self) -> bool:
        return self.quality.startswith("withheld")


@dataclass
class ReportData:
    months: list[date]
    rows: list[KpiRow]
    levels: dict[str, tuple[float, float, float]]
    # (month, is_aeo) -> {final lane or None: declarations}
    lanes: dict[tuple[date, bool], dict[str | None, int]] = field(default_factory=dict)
    # (month, category) -> (paperless, all declarations)
    paperless: dict[tuple[date, int], tuple[int, int]] = field(default_factory=dict)
    loaded_at: datetime | None = None

    def month_rows(self, month: date) -> list[KpiRow]:
        return [r for r in self.rows if r.month == month]

    def series(self, kpi_id: str, upto: date | None = None) -> list[float | None]:
        by_month = {r.month: r.value for r in self.rows if r.kpi_id == kpi_id}
        return [by_month.get(m) for m in self.months if upto is None or m <= upto]

    def value(self, kpi_id: str, month: date) -> float | None:
        for r in self.rows:
            if r.kpi_id == kpi_id and r.month == month:
                return r.value
        return None


def read_levels(
    path: Path = DBT_DIR / "seeds" / "kpi_levels.csv",
) -> dict[str, tuple[float, float, float]]:
    """SLA levels (goal, basic, minimum) from the seed the scorecard was built with."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            r["kpi_id"]: (float(r["goal"]), float(r["basic"]), float(r["minimum"]))
            for r in csv.DictReader(fh)
        }


SCORECARD_SQL = """
WITH catalog AS (SELECT *, row_number() OVER () AS ordinal FROM marts.kpi_catalog)
SELECT k.month, k.kpi_id, k.kpi_group, coalesce(c.indicator, k.kpi_id), k.unit, c.direction, c.basis,
       c.source, k.value, k.ytd_value, k.n, k.baseline, k.target, k.status, k.progress_pct,
       coalesce(k.quality, 'ok')
FROM marts.kpi_monthly k LEFT JOIN catalog c USING (kpi_id)
ORDER BY k.month, c.ordinal NULLS LAST, k.kpi_id
"""


def load_report_data(published_db: Path, settings: Settings | None = None) -> ReportData:
    with open_published(published_db, settings) as con:
        rows = [KpiRow(*r) for r in con.execute(SCORECARD_SQL).fetchall()]
        months = sorted({r.month for r in rows})
        data = ReportData(months=months, rows=rows, levels=read_levels())
        for month, is_aeo, lane, n in con.execute(
            "SELECT month, is_aeo, final_lane, count(*) FROM marts.fct_declarations GROUP BY ALL"
        ).fetchall():
            data.lanes.setdefault((month, is_aeo), {})[lane] = n
        for month, category, paperless, total in con.execute(
            "SELECT month, category, count(*) FILTER (WHERE is_paperless), count(*) "
            "FROM marts.fct_declarations GROUP BY ALL"
        ).fetchall():
            data.paperless[(month, category)] = (paperless, total)
        data.loaded_at = con.execute("SELECT max(loaded_at) FROM marts.load_audit").fetchall()[0][0]
    return data


def status_counts(rows: list[KpiRow]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts["withheld" if r.withheld else (r.status or "none")] += 1
    return dict(counts)
