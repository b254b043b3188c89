"""Which months incremental dbt models rebuild in a run (pure, unit-tested)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster_project.months import add_months


@dataclass(frozen=True)
class BuildWindow:
    """Half-open month window [month_from, month_to)."""

    month_from: date
    month_to: date

    def months(self) -> int:
        return (
            (self.month_to.year - self.month_from.year) * 12
            + self.month_to.month
            - self.month_from.month
        )

    def each(self) -> list[date]:
        """The first day of every month in the window."""
        return [add_months(self.month_from, i) for i in range(self.months())]


def build_window(
    run_months: list[date], dirty_months: list[date], loaded_months: list[date]
) -> BuildWindow | None:
    """From the earliest month that changed to the last month holding data.

    `run_months`: the run's partitions; `dirty_months`: months whose figures
    loads have touched since the last successful build (including other
    months a load reaches, e.g. a lane row for last month's declaration);
    `loaded_months`: every month any feed holds. Later months are rebuilt too,
    because year-to-date values and year-on-year changes read earlier months.
    """
    candidates = list(run_months) + list(dirty_months)
    if not candidates:
        return None
    start = min(candidates)
    last = max(list(loaded_months) + candidates)
    return BuildWindow(start, add_months(last, 1))
