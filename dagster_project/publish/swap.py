"""Replacing a published directory (the report, the data dictionary) as a whole."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def build_dir(target: Path) -> Path:
    """A fresh hidden sibling of `target` to build into (never named *.tmp: the publisher sweeps those)."""
    path = target.with_name(f".{target.name}.{uuid.uuid4().hex}.build")
    path.mkdir(parents=True)
    return path


def swap_dir(built: Path, target: Path) -> None:
    """Put `built` in place of `target`: two renames, then the old copy is removed.

    A reader that has a page open keeps it; between the two renames (microseconds)
    the directory is absent, never half-written.
    """
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)


def sweep(target: Path) -> None:
    """Remove build and old copies that a crashed step left beside `target`."""
    for pattern in (f".{target.name}.*.build", f".{target.name}.*.old"):
        for stale in target.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
