"""Headless Chromium (Debian's package) for page tests: DOM dumps and screenshots."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError(
            "chromium is not installed: `make test` installs Debian's chromium package"
        )
    return path


def dump_dom(url: str, *, wait_ms: int = 20000, timeout: float = 120) -> str:
    """The DOM after scripts ran for `wait_ms` of virtual time."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={wait_ms}",
                "--window-size=1600,1000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return proc.stdout


def screenshot(
    url: str, out: Path, *, wait_ms: int = 20000, size: str = "1600,1000", timeout: float = 120
) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={wait_ms}",
                f"--window-size={size}",
                f"--screenshot={out}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    return out
