"""The monthly partitioning shared by every asset (keys `YYYY-MM-01`); a month is reported once it is over.
The month arithmetic itself is in `months.py`."""

from __future__ import annotations

from datetime import date

from dagster import MonthlyPartitionsDefinition


def monthly_partitions(first_month: date) -> MonthlyPartitionsDefinition:
    """The monthly partitions from `first_month` (CUSTOMS_KPI_FIRST_MONTH) up to the last closed month.

    Built with the definitions (`assemble.build_definitions`), never at import.
    """
    return MonthlyPartitionsDefinition(
        start_date=first_month.replace(day=1).isoformat(), end_offset=0
    )


def partition_key(month: date) -> str:
    return month.replace(day=1).isoformat()


def month_of(key: str) -> date:
    return date.fromisoformat(key).replace(day=1)
