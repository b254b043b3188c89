"""`customs-kpi-dbt`: dbt as a child process that ends with its parent.

dagster-dbt starts `dbt build` with `subprocess.Popen` and no way to set up the
child; when the run's process is killed (SIGKILL included) dbt would go on as
an orphan, writing the work database the next run needs. This executable, given
to `DbtCliResource` as `dbt_executable`, asks the kernel to SIGKILL it when its
parent dies (`prctl(PR_SET_PDEATHSIG)`, kept across `execve`), moves into the
directory CUSTOMS_KPI_DBT_CWD names (if set), then replaces itself with the
environment's `dbt`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
DBT_CHILD = "customs-kpi-dbt"  # the console script running main()
# The directory dbt runs in (Settings.dbt_env: the data dir's work dir). The profile's paths are
# relative to it, so that its connection values, and with them dbt's partial parse, are the same
# in every data dir (transform/project.py: seed_partial_parse).
DBT_CWD_ENV = "CUSTOMS_KPI_DBT_CWD"


def dbt_path() -> Path:
    return Path(sys.executable).with_name("dbt")


def end_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() == 1:  # the parent died before the request took effect
        sys.exit(f"{Path(sys.argv[0]).name}: the process that started dbt is gone")


def enter_work_dir() -> None:
    cwd = os.environ.get(DBT_CWD_ENV)
    if cwd:
        try:
            os.chdir(cwd)
        except OSError as exc:
            sys.exit(f"{Path(sys.argv[0]).name}: {DBT_CWD_ENV}={cwd}: {exc.strerror}")


def main() -> None:
    end_with_parent()
    enter_work_dir()
    dbt = dbt_path()
    os.execv(dbt, [str(dbt), *sys.argv[1:]])


if __name__ == "__main__":
    main()
