"""Run-time settings, read from the environment (and an optional `.env` file).

Nothing here runs at import time: call `Settings.from_env()` when a run, a
command or a test starts, so that a changed variable takes effect on the next
run without restarting the code location.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

ENV_PREFIX = "CUSTOMS_KPI_"


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use."""


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _day(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 28:
        raise SettingsError(f"{name}={raw!r} must be a day of the month from 1 to 28")
    return int(raw)


def _flag(env: dict[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={env.get(name)!r} must be 1 or 0")


# ---- deliveries: first month, settle period (one block) ----------------------------
DEFAULT_FIRST_MONTH = date(2020, 1, 1)
DEFAULT_SETTLE_SECONDS = 300


def _first_month(env: dict[str, str], name: str) -> date:
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_FIRST_MONTH
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", raw)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise SettingsError(f"{name}={raw!r} must be a month as YYYY-MM (for example 2019-01)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def _non_negative_int(env: dict[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise SettingsError(f"{name}={raw!r} must be a whole number of seconds, 0 or more")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    tz: str = "UTC"
    dagster_home: Path | None = None
    secret: str | None = None
    demo: bool = False  # CUSTOMS_KPI_DEMO=1: without a secret, publish with a generated key kept under the data dir
    memory_limit: str | None = None
    threads: int | None = None
    alert_webhook: str | None = None
    schedule_day: int = 5  # day of the month the scheduled run loads the month just closed
    due_day: int = 10  # a feed's month is overdue once this day of the next month has passed
    first_month: date = DEFAULT_FIRST_MONTH  # the first monthly partition; older month folders are refused
    settle_seconds: int = DEFAULT_SETTLE_SECONDS  # the sensor runs a month once its content is this old

    # ---- derived locations -------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def marts_dir(self) -> Path:
        return self.data_dir / "marts"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def work_db(self) -> Path:
        """The database the pipeline writes: raw layer, rejects, audit, dbt models."""
        return self.work_dir / "warehouse.duckdb"

    @property
    def published_db(self) -> Path:
        """The file readers open; replaced atomically, never written in place."""
        return self.marts_dir / "warehouse.duckdb"

    @property
    def dagster_home_dir(self) -> Path:
        return self.dagster_home or (self.data_dir / "dagster_home")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    # ---- construction --------------------------------------------------------
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = dict(read_dotenv(PROJECT_ROOT / ".env"))
        env.update(os.environ if environ is None else environ)

        data_dir = Path(env.get(f"{ENV_PREFIX}DATA_DIR") or PROJECT_ROOT / "data").resolve()
        tz = env.get(f"{ENV_PREFIX}TZ") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"{ENV_PREFIX}TZ={tz!r} is not an IANA time zone") from exc

        threads_raw = env.get(f"{ENV_PREFIX}THREADS")
        threads = None
        if threads_raw:
            try:
                threads = int(threads_raw)
            except ValueError as exc:
                raise SettingsError(f"{ENV_PREFIX}THREADS={threads_raw!r} is not a number") from exc
            if threads < 1:
                raise SettingsError(f"{ENV_PREFIX}THREADS must be at least 1, got {threads}")

        schedule_day = _day(env, f"{ENV_PREFIX}SCHEDULE_DAY", 5)
        due_day = _day(env, f"{ENV_PREFIX}DUE_DAY", 10)
        home = env.get("DAGSTER_HOME")
        return cls(
            data_dir=data_dir,
            tz=tz,
            dagster_home=Path(home).resolve() if home else None,
            secret=env.get(f"{ENV_PREFIX}SECRET") or None,
            demo=_flag(env, f"{ENV_PREFIX}DEMO"),
            memory_limit=env.get(f"{ENV_PREFIX}MEMORY_LIMIT") or None,
            threads=threads,
            alert_webhook=env.get(f"{ENV_PREFIX}ALERT_WEBHOOK") or None,
            schedule_day=schedule_day,
            due_day=due_day,
            first_month=_first_month(env, f"{ENV_PREFIX}FIRST_MONTH"),
            settle_seconds=_non_negative_int(env, f"{ENV_PREFIX}SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS),
        )

    def duckdb_config(self) -> dict[str, str]:
        """DuckDB connection settings for this run's resource limits."""
        config: dict[str, str] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = str(self.threads)
        return config

    def as_env(self) -> dict[str, str]:
        """These settings as the environment variables that produce them."""
        env = {f"{ENV_PREFIX}DATA_DIR": str(self.data_dir), f"{ENV_PREFIX}TZ": self.tz}
        optional = {
            "DAGSTER_HOME": self.dagster_home,
            f"{ENV_PREFIX}SECRET": self.secret,
            f"{ENV_PREFIX}DEMO": "1" if self.demo else "0",
            f"{ENV_PREFIX}MEMORY_LIMIT": self.memory_limit,
            f"{ENV_PREFIX}THREADS": self.threads,
            f"{ENV_PREFIX}ALERT_WEBHOOK": self.alert_webhook,
            f"{ENV_PREFIX}SCHEDULE_DAY": self.schedule_day,
            f"{ENV_PREFIX}DUE_DAY": self.due_day,
            f"{ENV_PREFIX}FIRST_MONTH": f"{self.first_month:%Y-%m}",
            f"{ENV_PREFIX}SETTLE_SECONDS": self.settle_seconds,
        }
        env.update({k: str(v) for k, v in optional.items() if v is not None})
        return env

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile and models read."""
        env = {
            "CUSTOMS_KPI_WORK_DB": str(self.work_db),
            "CUSTOMS_KPI_TZ": self.tz,
        }
        if self.memory_limit:
            env["CUSTOMS_KPI_MEMORY_LIMIT"] = self.memory_limit
        if self.threads:
            env["CUSTOMS_KPI_THREADS"] = str(self.threads)
        return env
