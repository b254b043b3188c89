"""The code location Dagster loads (`dagster dev -m dagster_project.definitions`)."""

import warnings

from dagster import BetaWarning

from dagster_project.assemble import build_definitions

warnings.filterwarnings("ignore", category=BetaWarning)

defs = build_definitions()
