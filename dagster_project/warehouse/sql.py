"""SQL text helpers for DuckDB statements built in Python (loader, quality, publisher, lake)."""

from __future__ import annotations


def q(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values) -> str:
    """`(lit, lit, ...)` of the values, sorted."""
    return "(" + ", ".join(lit(v) for v in sorted(values)) + ")"


def list_lit(values) -> str:
    """`[lit, lit, ...]` of the values, in their order (a list literal; SQL indexes it from 1)."""
    return "[" + ", ".join(lit(v) for v in values) + "]"
