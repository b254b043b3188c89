"""The dbt command line for a run (pure, unit-tested)."""

from __future__ import annotations


def dbt_build_args(*, full_refresh: bool = False, threads: int | None = None) -> list[str]:
    """`dbt build` with no per-run --vars: the month window is data (meta.build_window),
    so dbt's partial parsing is reused from one run to the next."""
    # dbt unit tests check the SQL, not the month's data: `make test` runs them, a monthly run does not.
    args = ["build", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if threads:
        args += ["--threads", str(threads)]
    return args
