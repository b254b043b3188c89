"""Run-time settings, read from the environment (and an optional `.env` file).

Nothing here runs at import time: call `Settings.from_env()` when a run, a
command or a test starts, so that a changed variable takes effect on the next
run without restarting the code location.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlparse
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from dagster_project.ingest.files import ReadLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

ENV_PREFIX = "CUSTOMS_KPI_"


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use."""


def read_dotenv(path: Path) -> dict[str, str]:
    """The KEY=VALUE settings of a `.env` file (python-dotenv: `#` comments, quotes, `export`), none if missing.

    Values are taken literally (no `${VAR}` expansion); a key without `=` is left out.
    """
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}


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


# ---- reading files: how far a .gz may expand -------------------------------------------------
DEFAULT_GZIP_MAX_RATIO = ReadLimits.gzip_max_ratio
DEFAULT_GZIP_MAX_SIZE = "16GiB"  # ReadLimits.gzip_max_bytes
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def size_bytes(text: str) -> int | None:
    """'16GiB', '500 MB', '2048B' -> bytes; None when it is not such a size."""
    m = _SIZE.fullmatch(text.strip())
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()]) if m else None


def _size(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    if not size_bytes(raw):
        raise SettingsError(f"{name}={raw!r} is not a size such as 16GiB, 500MB or 2048B")
    return raw


# ---- run safety: resources, alerts, quality Data Docs -------------------------------------------
MEMORY_SHARE = (
    9  # with no CUSTOMS_KPI_MEMORY_LIMIT, DuckDB may take a ninth of the machine's memory
)
MEMORY_HINT = "a DuckDB memory limit such as 4GB, 1500MiB or 25%"
KEEP_QUALITY_RUNS = 10


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or the cgroup's limit when lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit_file in (
        Path("/sys/fs/cgroup/memory.max"),
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    ):
        try:
            text = limit_file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_memory_limit() -> str:
    """DuckDB's limit when none is set: a ninth of the machine's memory, in MiB. The pipeline
    process and dbt's child never hold DuckDB at the same time (the work file takes one writer,
    and the dbt step closes its connection before dbt starts), so each may use all of it; what
    the processes hold besides DuckDB's buffers (Python, Dagster, dbt, ~1.1 GiB at 10M
    declarations) comes on top, so that a run stays within about a sixth of the machine."""
    return f"{max(machine_memory() // MEMORY_SHARE // 2**20, 64)}MiB"


def _memory_limit(env: dict[str, str], name: str) -> str | None:
    """The value as DuckDB takes it (DuckDB itself parses it: 4GB, 1500MiB, 25%, ...)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    reason = _memory_limit_fault(raw)
    if reason:
        raise SettingsError(f"{name}={raw!r} is not {MEMORY_HINT} (DuckDB: {reason})")
    return raw


@functools.lru_cache(maxsize=16)
def _memory_limit_fault(raw: str) -> str | None:
    """Why DuckDB refuses `raw` as a memory limit, or None. Asked once per value and process:
    every step reads the settings again, and each question opens a DuckDB database."""
    import duckdb

    if raw.startswith("-"):  # DuckDB would take it and lift the budget, not enforce it
        return "it takes a negative limit as no limit at all"
    try:
        with duckdb.connect(config={"memory_limit": raw, "threads": 1}) as con:
            con.execute(
                "SELECT current_setting('memory_limit')"
            ).fetchall()  # a limit of 0 fails here
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    return None


def file_in_the_way(path: Path) -> Path | None:
    """The file at `path` or at a folder above it, where folders could not be made; None if
    the nearest existing part of the path is a folder."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def _directory(name: str, raw: str) -> Path:
    """`raw` as an absolute path, refused when it or a folder above it is a file (the run would
    fail creating its folders in it, far from the setting)."""
    path = Path(raw).resolve()
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise SettingsError(f"{name}={raw!r} is not a directory: {blocker} is a file")
    return path


def _count(env: dict[str, str], name: str, minimum: int) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise SettingsError(f"{name}={raw!r} is not a number (a whole number, at least {minimum})")
    if int(raw) < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw}")
    return int(raw)


def _webhook(env: dict[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    url = urlparse(raw)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise SettingsError(f"{name}={raw!r} is not an http(s) URL")
    return raw


# ---- the engine of the dbt build (docs/scale-out.md) ------------------------------------------
ENGINES = ("duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[*]"


def _engine(env: dict[str, str], name: str) -> str:
    raw = (env.get(name) or "").strip().lower() or "duckdb"
    if raw not in ENGINES:
        raise SettingsError(f"{name}={env.get(name)!r} must be one of: {', '.join(ENGINES)}")
    return raw


# The master URLs Spark 4 parses itself (SparkMasterRegex) and the cluster managers it ships
# (spark-yarn, spark-kubernetes); Mesos support is gone since Spark 4.0.
SPARK_MASTER_FORMS = (
    r"local",
    r"local\[([0-9]+|\*)\]",
    r"local\[([0-9]+|\*)\s*,\s*[0-9]+\]",
    r"local-cluster\[\s*[0-9]+\s*,\s*[0-9]+\s*,\s*[0-9]+\s*\]",
    r"spark://[^\s/]+",
    r"yarn",
    r"k8s://\S+",
)


def _spark_master(env: dict[str, str], name: str) -> str:
    raw = (env.get(name) or "").strip() or DEFAULT_SPARK_MASTER
    if not any(re.fullmatch(form, raw) for form in SPARK_MASTER_FORMS):
        raise SettingsError(
            f"{name}={raw!r} is not a Spark master URL: local, local[N], local[*], "
            "local[N,retries], local-cluster[N,cores,MiB], spark://host:port[,host:port], yarn "
            "or k8s://https://host:port"
        )
    return raw


def _spark_conf(env: dict[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """`key=value` pairs separated by spaces (a value holds no space)."""
    pairs = []
    for token in (env.get(name) or "").split():
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise SettingsError(
                f"{name}: {token!r} is not key=value (pairs are separated by spaces)"
            )
        pairs.append((key, value))
    return tuple(pairs)


def _relative_to(path: Path, base: Path) -> str:
    """`path` relative to `base` when it lies under it, else as it is."""
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def java_executable() -> str | None:
    """The `java` Spark starts: $JAVA_HOME/bin/java, else the first on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def check_spark_engine(name: str = f"{ENV_PREFIX}ENGINE") -> None:
    """What CUSTOMS_KPI_ENGINE=spark needs on this machine, as one error naming the setting."""
    missing = []
    if java_executable() is None:
        missing.append(
            "Java 17 (no java on the PATH nor in $JAVA_HOME; Debian: apt-get install openjdk-17-jre-headless)"
        )
    for module, extra in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark[session]")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(f"{extra} (install the project's `spark` extra: make install does)")
    if missing:
        raise SettingsError(f"{name}=spark needs " + " and ".join(missing))


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
    first_month: date = (
        DEFAULT_FIRST_MONTH  # the first monthly partition; older month folders are refused
    )
    settle_seconds: int = (
        DEFAULT_SETTLE_SECONDS  # the sensor runs a month once its content is this old
    )
    keep_quality_runs: int = KEEP_QUALITY_RUNS  # quality Data Docs kept (besides published months')
    gzip_max_ratio: int = (
        DEFAULT_GZIP_MAX_RATIO  # a .gz may expand this many times its size (above 100 MiB)
    )
    gzip_max_size: str = DEFAULT_GZIP_MAX_SIZE  # and never past this size
    engine: str = "duckdb"  # where the dbt build runs: duckdb, or spark (through dbt-spark)
    spark_master: str = DEFAULT_SPARK_MASTER
    spark_conf: tuple[
        tuple[str, str], ...
    ] = ()  # CUSTOMS_KPI_SPARK_CONF, over the defaults of spark_params
    lake: Path | None = (
        None  # CUSTOMS_KPI_LAKE_DIR: where Spark reads the raw layer and writes the models
    )

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

    def dbt_target_dir(self, engine: str | None = None) -> Path:
        """dbt's target path for builds on `engine` (default: the setting's) in this data dir: the
        run results, compiled SQL, partial parse and log of its builds. Each data dir and engine
        has its own, so two data dirs can build at once on one checkout."""
        return self.work_dir / "dbt" / (engine or self.engine)

    @property
    def dbt_docs_dir(self) -> Path:
        """dbt's target path for the data dictionary (`dbt docs generate`), beside the builds'."""
        return self.work_dir / "dbt" / "docs"

    @property
    def published_db(self) -> Path:
        """The file readers open; replaced atomically, never written in place."""
        return self.marts_dir / "warehouse.duckdb"

    @property
    def dagster_home_dir(self) -> Path:
        return self.dagster_home or (self.data_dir / "dagster_home")

    @property
    def duckdb_temp_dir(self) -> Path:
        """Where DuckDB spills what does not fit in its memory limit."""
        return self.work_dir / "tmp"

    @property
    def lake_dir(self) -> Path:
        """With the Spark engine: the raw layer as Parquet, and Spark's tables (CUSTOMS_KPI_LAKE_DIR)."""
        return self.lake or (self.data_dir / "lake")

    @property
    def spark_dir(self) -> Path:
        """Spark's own state on this machine: the Derby metastore and its log."""
        return self.work_dir / "spark"

    def spark_params(self) -> dict[str, str]:
        """The Spark session's settings: the project's defaults, then CUSTOMS_KPI_SPARK_CONF."""
        params = {
            "spark.master": self.spark_master,
            "spark.app.name": "customs-kpi",
            # Months are cut in the administration's zone by the models themselves: Spark's own
            # zone only decides how it reads and writes timestamps, which are all UTC here.
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.warehouse.dir": str(self.lake_dir / "spark-warehouse"),
            "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={self.spark_dir / 'metastore_db'};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.spark_dir}",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "16",
            # Timestamps as DuckDB writes and reads them: microseconds, and a naive timestamp
            # of the raw layer read as a UTC instant (not as TIMESTAMP_NTZ).
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
            # The metastore's partition filter parser rejects the raw layer's `_month`: Spark
            # lists a table's partitions and prunes them itself.
            "spark.sql.hive.metastorePartitionPruning": "false",
            # No progress bar: it would break the lines of dbt's JSON log that Dagster reads.
            "spark.ui.showConsoleProgress": "false",
        }
        params.update(dict(self.spark_conf))
        return params

    @property
    def spark_warehouse_dir(self) -> Path:
        """Where Spark keeps the models' tables (`spark.sql.warehouse.dir`), a local path."""
        value = self.spark_params()["spark.sql.warehouse.dir"]
        return Path(value.removeprefix("file:"))

    @property
    def duckdb_memory_limit(self) -> str:
        """CUSTOMS_KPI_MEMORY_LIMIT, or a ninth of the machine's memory."""
        return self.memory_limit or default_memory_limit()

    @property
    def read_limits(self) -> ReadLimits:
        """What one delivered file may hold (`ingest.files.ReadLimits`)."""
        return ReadLimits(
            gzip_max_ratio=self.gzip_max_ratio, gzip_max_bytes=size_bytes(self.gzip_max_size) or 0
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    # ---- construction --------------------------------------------------------
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = dict(read_dotenv(PROJECT_ROOT / ".env"))
        env.update(os.environ if environ is None else environ)

        data_dir = _directory(
            f"{ENV_PREFIX}DATA_DIR", env.get(f"{ENV_PREFIX}DATA_DIR") or str(PROJECT_ROOT / "data")
        )
        tz = env.get(f"{ENV_PREFIX}TZ") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"{ENV_PREFIX}TZ={tz!r} is not an IANA time zone") from exc

        threads = _count(env, f"{ENV_PREFIX}THREADS", 1)
        memory_limit = _memory_limit(env, f"{ENV_PREFIX}MEMORY_LIMIT")
        alert_webhook = _webhook(env, f"{ENV_PREFIX}ALERT_WEBHOOK")
        keep_quality_runs = _count(env, f"{ENV_PREFIX}KEEP_QUALITY_RUNS", 1) or KEEP_QUALITY_RUNS

        schedule_day = _day(env, f"{ENV_PREFIX}SCHEDULE_DAY", 5)
        due_day = _day(env, f"{ENV_PREFIX}DUE_DAY", 10)
        home = env.get("DAGSTER_HOME")
        engine = _engine(env, f"{ENV_PREFIX}ENGINE")
        if engine == "spark":
            check_spark_engine()
        lake = (env.get(f"{ENV_PREFIX}LAKE_DIR") or "").strip()
        return cls(
            data_dir=data_dir,
            tz=tz,
            dagster_home=_directory("DAGSTER_HOME", home) if home else None,
            secret=env.get(f"{ENV_PREFIX}SECRET") or None,
            demo=_flag(env, f"{ENV_PREFIX}DEMO"),
            memory_limit=memory_limit,
            threads=threads,
            alert_webhook=alert_webhook,
            keep_quality_runs=keep_quality_runs,
            schedule_day=schedule_day,
            due_day=due_day,
            first_month=_first_month(env, f"{ENV_PREFIX}FIRST_MONTH"),
            settle_seconds=_non_negative_int(
                env, f"{ENV_PREFIX}SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS
            ),
            gzip_max_ratio=_count(env, f"{ENV_PREFIX}GZIP_MAX_RATIO", 1) or DEFAULT_GZIP_MAX_RATIO,
            gzip_max_size=_size(env, f"{ENV_PREFIX}GZIP_MAX_SIZE", DEFAULT_GZIP_MAX_SIZE),
            engine=engine,
            spark_master=_spark_master(env, f"{ENV_PREFIX}SPARK_MASTER"),
            spark_conf=_spark_conf(env, f"{ENV_PREFIX}SPARK_CONF"),
            lake=_directory(f"{ENV_PREFIX}LAKE_DIR", lake) if lake else None,
        )

    def duckdb_config(self, temp_dir: Path | None = None) -> dict[str, str]:
        """DuckDB connection settings for this run's resource limits (memory: see
        `duckdb_memory_limit`; spilling to `temp_dir`, by default `duckdb_temp_dir`). Two DuckDB
        databases open at once need two temp folders: each names its files the same way, and
        removes the folder it made when it closes."""
        config = {
            "memory_limit": self.duckdb_memory_limit,
            "temp_directory": str(temp_dir or self.duckdb_temp_dir),
        }
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
            f"{ENV_PREFIX}KEEP_QUALITY_RUNS": self.keep_quality_runs,
            f"{ENV_PREFIX}GZIP_MAX_RATIO": self.gzip_max_ratio,
            f"{ENV_PREFIX}GZIP_MAX_SIZE": self.gzip_max_size,
            f"{ENV_PREFIX}ENGINE": self.engine,
            f"{ENV_PREFIX}SPARK_MASTER": self.spark_master,
            f"{ENV_PREFIX}SPARK_CONF": " ".join(f"{k}={v}" for k, v in self.spark_conf) or None,
            f"{ENV_PREFIX}LAKE_DIR": self.lake,
        }
        env.update({k: str(v) for k, v in optional.items() if v is not None})
        return env

    def dbt_env(self, engine: str | None = None) -> dict[str, str]:
        """Environment variables the dbt profile and models read; `engine` (default: the
        setting's) picks the profile's target: `work` (DuckDB) or `spark`, always named, so that
        a target left in the calling environment never picks it."""
        env = {
            "CUSTOMS_KPI_DBT_TARGET": "work",
            # dbt runs in the work dir (transform/child.py) and the paths are relative to it, so
            # that the profile, and with it dbt's partial parse, is the same in every data dir
            "CUSTOMS_KPI_DBT_CWD": str(self.work_dir),
            "CUSTOMS_KPI_WORK_DB": _relative_to(self.work_db, self.work_dir),
            "CUSTOMS_KPI_TZ": self.tz,
            "CUSTOMS_KPI_MEMORY_LIMIT": self.duckdb_memory_limit,
            "CUSTOMS_KPI_DUCKDB_TEMP_DIR": _relative_to(self.duckdb_temp_dir, self.work_dir),
        }
        if self.threads:
            env["CUSTOMS_KPI_THREADS"] = str(self.threads)
        if (engine or self.engine) == "spark":
            env["CUSTOMS_KPI_DBT_TARGET"] = "spark"
            env["CUSTOMS_KPI_SPARK_PARAMS"] = json.dumps(self.spark_params())
        return env

    def dbt_process_env(self, engine: str | None = None) -> dict[str, str]:
        """The whole environment of a dbt command run outside a Dagster step (the data
        dictionary, the DuckDB shells of a Spark run): this process's, `dbt_env(engine)` over it."""
        return {**os.environ, **self.dbt_env(engine)}
