"""The dbt resource of the assets: dagster-dbt's `DbtCliResource`, without its start-up costs.

Before every `dbt build`, `DbtCliResource.cli` spends ~5 s (more on a loaded machine) on two
things this project does not use:

* it runs `dbt --version` in a child process, to learn whether the executable is dbt Core or the
  Fusion engine. Here it is always the dbt Core of this environment (`customs-kpi-dbt` execs
  `.venv/bin/dbt`, transform/child.py), whose version the package itself says;
* it builds a dbt adapter in the Dagster process (profile, project, the macros of dbt-duckdb),
  which only `fetch_column_metadata` / `fetch_row_counts` need. The assets call neither.

Both hooks are dagster-dbt's own (0.29.x, pinned); `tests/test_resources.py` checks that they
still exist there and that the version is the one `dbt --version` reports. Every pipeline test's
build streams its nodes' events through this resource.
"""

from __future__ import annotations

from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging import version


class CustomsDbtCliResource(DbtCliResource):
    """`DbtCliResource` for the environment's dbt Core, with no adapter in the Dagster process."""

    @cached_property
    def _cli_version(self) -> version.Version:
        import dbt.version

        return version.parse(dbt.version.__version__)

    def _initialize_dbt_core_adapter(self, args):
        return None
