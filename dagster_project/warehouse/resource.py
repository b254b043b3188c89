"""The warehouse as a Dagster resource: what every asset and check of a run works on.

Its settings are read from the environment (and `.env`) when a step asks for them, never when
the code location loads, so a changed variable takes effect on the next run. `data_dir`, when
set, overrides CUSTOMS_KPI_DATA_DIR: a test (or a second code location) points the same
definitions at another warehouse by swapping the resource.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import duckdb
from dagster import ConfigurableResource

from dagster_project.settings import ENV_PREFIX, Settings
from dagster_project.warehouse.db import work_db


class WarehouseResource(ConfigurableResource):
    """The data dir a run loads, builds and publishes (CUSTOMS_KPI_* settings, read per step)."""

    data_dir: Optional[str] = None

    def settings(self) -> Settings:
        if self.data_dir is None:
            return Settings.from_env()
        return Settings.from_env({**os.environ, f"{ENV_PREFIX}DATA_DIR": self.data_dir})

    @contextmanager
    def work_db(
        self, settings: Settings | None = None, *, read_only: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The work database, with the run's resource limits (`warehouse.db.work_db`)."""
        with work_db(settings or self.settings(), read_only=read_only) as con:
            yield con
