"""Months, the warehouse's unit of time: each is named by its first day (a `date`), written
`YYYY-MM` in folder names and messages. Pure date arithmetic; the Dagster partitions built on
it are in `partitions.py`."""

from __future__ import annotations

import re
from datetime import date


def add_months(month: date, n: int) -> date:
    idx = month.year * 12 + month.month - 1 + n
    return date(idx // 12, idx % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first` to `last`, both included."""
    out, m = [], first.replace(day=1)
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


def month_key(month: date) -> str:
    """`YYYY-MM`: a month folder's name."""
    return f"{month:%Y-%m}"


def month_label(month: date) -> str:
    """`November 2025`: a month as the report names it."""
    return f"{month:%B %Y}"


def parse_month(text: str) -> date:
    """'YYYY-MM' or 'YYYY-MM-DD' (a partition key) -> first day of that month."""
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-01)?", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM)")
    return date(int(m.group(1)), int(m.group(2)), 1)
