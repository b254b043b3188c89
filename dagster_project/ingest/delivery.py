"""What a feed-month's delivery is: the one definition the loader, the sensor and `status` share.

A delivery is the data files of `raw/<feed>/<YYYY-MM>/`, in name order:

* no folder, or a folder without a data file, is *no delivery*: nothing of the
  month is replaced (a folder emptied by mistake never wipes a loaded month);
* names starting with `.` or ending in `.tmp`, `.part`, `.partial` or `~` are
  copies in progress: never read, not a fault;
* a completion marker (`_manifest.json`, or `_SUCCESS` with `sha256sum` lines)
  limits the delivery to the files it lists, each checked against its sha256;
  files it does not list are ignored (and named in `ignored`);
* any other entry that is not a `.csv`, `.csv.gz` or `.parquet` file is a
  file-level fault naming it.

`survey_raw` names the month folders of every feed and the folders that are
not one (misnamed, unknown feed, before the first month).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster_project.contract import FEEDS, Feed
from dagster_project.ingest.files import (
    MONTH_DIR,
    FileFault,
    is_data_name,
    month_folder,
    month_key,
    sha256_of,
)

IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", "~")
SUCCESS_MARKER = "_SUCCESS"
MANIFEST_MARKER = "_manifest.json"
MARKERS = (MANIFEST_MARKER, SUCCESS_MARKER)  # the manifest wins when both are present

NO_FOLDER = "no folder"
EMPTY_FOLDER = "empty folder"
DELIVERED = "delivered"

CHANGED_WHILE_READ = "changed while being read: still being written?"

_SHA_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")

# sha256 of a file from its path and stat (lets a caller reuse hashes of unchanged files)
Hasher = Callable[[Path, os.stat_result], str]


def in_progress(name: str) -> bool:
    """A name an exporter uses while it is still writing the file."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


@dataclass(frozen=True)
class DeliveredFile:
    path: Path
    size: int
    mtime_ns: int
    sha256: str | None = None  # known before the read when a marker listed it or a hasher was given

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Delivery:
    """One feed-month folder as the pipeline sees it (see the module docstring)."""

    feed: str
    month: date
    state: str  # NO_FOLDER | EMPTY_FOLDER | DELIVERED
    files: tuple[DeliveredFile, ...] = ()
    faults: tuple[FileFault, ...] = ()
    ignored: tuple[str, ...] = ()  # copies in progress and files a completion marker does not list
    marker: str | None = None

    @property
    def delivered(self) -> bool:
        return self.state == DELIVERED

    def notes(self) -> str:
        parts = []
        if self.marker:
            parts.append(f"completion marker {self.marker}")
        if self.ignored:
            parts.append("ignored: " + ", ".join(self.ignored))
        return "; ".join(parts)


def _read_marker(folder: Path, marker: str, fault) -> dict[str, str | None] | None:
    """Listed names -> sha256 (None: any content); None when every data file present is listed."""
    path = folder / marker
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fault(marker, f"unreadable completion marker ({exc})") from exc
    if marker == SUCCESS_MARKER:
        lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
        if not lines:
            return None
        listed: dict[str, str | None] = {}
        for n, line in enumerate(lines, 1):
            m = _SHA_LINE.match(line)
            if not m:
                raise fault(marker, f"line {n} is not '<sha256>  <file name>' (sha256sum output)")
            listed[m.group(2)] = m.group(1).lower()
        return listed
    try:
        doc = json.loads(text)
        entries = doc["files"]
        listed = {}
        for e in entries:
            name, sha = e["name"], e.get("sha256")
            if not isinstance(name, str) or not (sha is None or isinstance(sha, str)):
                raise TypeError("name and sha256 must be strings")
            listed[name] = sha.lower() if sha else None
        return listed
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise fault(
            marker,
            'not a manifest: expected {"files": [{"name": ..., "sha256": ...}, ...]} '
            f"({type(exc).__name__}: {exc})",
        ) from exc


def feed_month_delivery(
    raw_dir: Path, feed: Feed, month: date, hasher: Hasher | None = None
) -> Delivery:
    """The delivery of one feed-month: its data files in name order, or no delivery.

    Files are hashed only to check a completion marker's sha256, or for every
    data file when `hasher` is given (the sensor's scan).
    """
    folder = month_folder(raw_dir, feed, month)
    if not folder.is_dir():
        return Delivery(feed.name, month, NO_FOLDER)

    def fault(name: str, message: str) -> FileFault:
        return FileFault(feed.name, month, name, message)

    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    names = {e.name for e in entries}
    marker = next((m for m in MARKERS if m in names), None)
    faults: list[FileFault] = []
    listed: dict[str, str | None] | None = None
    if marker:
        try:
            listed = _read_marker(folder, marker, fault)
        except FileFault as exc:
            faults.append(exc)
    files: list[DeliveredFile] = []
    ignored: list[str] = []
    for entry in entries:
        name = entry.name
        if name in MARKERS:
            continue
        if in_progress(name):
            ignored.append(name)
            continue
        if listed is not None and name not in listed:
            ignored.append(name)
            continue
        if not entry.is_file() or not is_data_name(name):
            kind = "a folder" if entry.is_dir() else "not a .csv, .csv.gz or .parquet file"
            faults.append(fault(name, f"unexpected entry in the month folder ({kind})"))
            continue
        stat = entry.stat()
        expected = listed.get(name) if listed else None
        sha = None
        if hasher is not None:
            sha = hasher(Path(entry.path), stat)
        elif expected:
            sha = sha256_of(Path(entry.path))
        if expected and sha != expected:
            faults.append(fault(name, f"sha256 {sha} differs from {expected} listed in {marker}"))
        files.append(DeliveredFile(Path(entry.path), stat.st_size, stat.st_mtime_ns, sha))
    if listed:
        for name in sorted(set(listed) - {f.name for f in files} - {f.file for f in faults}):
            faults.append(fault(name, f"listed in {marker} but not in the folder"))
    state = DELIVERED if files or faults else EMPTY_FOLDER
    return Delivery(feed.name, month, state, tuple(files), tuple(faults), tuple(ignored), marker)


def check_unchanged(delivery: Delivery, hashes: list[str]) -> None:
    """Raise a `FileFault` for a file that changed between the listing and the end of its read.

    `hashes` are the files' sha256 from the scan before the read, in the order of `delivery.files`;
    a change after that scan shows in the size or the modification time.
    """
    for f, sha in zip(delivery.files, hashes, strict=True):
        try:
            stat = f.path.stat()
        except OSError as exc:
            raise FileFault(
                delivery.feed, delivery.month, f.name, f"{CHANGED_WHILE_READ} ({exc.strerror})"
            ) from exc
        if (stat.st_size, stat.st_mtime_ns) != (f.size, f.mtime_ns) or (
            f.sha256 and f.sha256 != sha
        ):
            raise FileFault(delivery.feed, delivery.month, f.name, CHANGED_WHILE_READ)


@dataclass
class Survey:
    """Month folders per feed (from the first month on) and the entries of raw/ that are not one."""

    months: dict[str, list[date]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def survey_raw(raw_dir: Path, first_month: date) -> Survey:
    """Name every month folder of every feed; warn about each folder that is not one.

    Misnamed month folders (`2025-1`, `2025-13`, `2025-02-extra`), folders of
    unknown feeds and months before `first_month` are named, never silently skipped.
    """
    survey = Survey({feed.name: [] for feed in FEEDS})
    if not raw_dir.is_dir():
        return survey
    feeds = {f.name for f in FEEDS}
    for child in sorted(raw_dir.iterdir(), key=lambda p: p.name):
        if in_progress(child.name) or child.name in feeds:
            continue
        what = "folder" if child.is_dir() else "file"
        survey.warnings.append(
            f"raw/{child.name}: {what} is not a feed of the contract ({', '.join(sorted(feeds))}); ignored"
        )
    for feed in FEEDS:
        feed_dir = raw_dir / feed.name
        if not feed_dir.is_dir():
            continue
        for child in sorted(feed_dir.iterdir(), key=lambda p: p.name):
            if in_progress(child.name):
                continue
            m = MONTH_DIR.match(child.name)
            if not (child.is_dir() and m and 1 <= int(m.group(2)) <= 12):
                what = "folder" if child.is_dir() else "file"
                survey.warnings.append(
                    f"raw/{feed.name}/{child.name}: {what} is not a month folder (expected YYYY-MM); ignored"
                )
                continue
            month = date(int(m.group(1)), int(m.group(2)), 1)
            if month < first_month:
                survey.warnings.append(
                    f"raw/{feed.name}/{child.name}: before the first month {month_key(first_month)} "
                    "(CUSTOMS_KPI_FIRST_MONTH); not loaded"
                )
                continue
            survey.months[feed.name].append(month)
    return survey


def delivered_months(raw_dir: Path, feed: Feed, first_month: date) -> list[date]:
    """Months of a feed that hold a delivery (an empty month folder is not one)."""
    months = survey_raw(raw_dir, first_month).months[feed.name]
    return [m for m in months if feed_month_delivery(raw_dir, feed, m).state != EMPTY_FOLDER]
