"""What is on disk and what was loaded, as content digests per feed-month (for the sensor and status).

What a feed-month's delivery *is* is decided by `ingest.delivery.feed_month_delivery`,
the same function the loader reads; this module only hashes and compares.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster_project.contract import FEEDS
from dagster_project.ingest.delivery import Delivery, Hasher, feed_month_delivery, survey_raw
from dagster_project.ingest.files import sha256_of
from dagster_project.months import month_key

# relative path -> [size, mtime_ns, sha256]; lets a scan skip re-hashing unchanged files
HashCache = dict[str, list]
Entry = tuple[str, str, str]  # (feed, file name, sha256 or the fault)


def digest_of(files: list[Entry]) -> str:
    """One digest for a set of files across feeds: names and contents, order-independent."""
    h = hashlib.sha256()
    for feed, name, sha in sorted(files):
        h.update(f"{feed}/{name}:{sha}\n".encode())
    return h.hexdigest()


def delivery_entries(delivery: Delivery) -> list[Entry]:
    """The delivery's data files with their sha256, and its faulty entries (so a fault also asks for a run)."""
    out = [(delivery.feed, f.name, f.sha256 or "") for f in delivery.files]
    out += [(delivery.feed, fault.file, f"fault: {fault.fault}") for fault in delivery.faults]
    return out


def cached_hasher(raw_dir: Path, cache: HashCache, fresh: HashCache) -> Hasher:
    """sha256 of a file, reused from `cache` while its size and modification time are the same."""

    def sha(path: Path, stat: os.stat_result) -> str:
        rel = path.relative_to(raw_dir).as_posix()
        hit = cache.get(rel)
        if hit and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
            digest = hit[2]
        else:
            digest = sha256_of(path)
        fresh[rel] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    return sha


@dataclass
class RawScan:
    raw_dir: Path
    deliveries: dict[tuple[str, str], Delivery] = field(
        default_factory=dict
    )  # (feed, YYYY-MM), every month folder
    warnings: list[str] = field(
        default_factory=list
    )  # folders that are not month folders, months too old
    hashes: HashCache = field(default_factory=dict)

    def delivered(self) -> dict[tuple[str, str], list[Entry]]:
        """Entries of every feed-month that is a delivery (or holds a faulty entry)."""
        return {k: delivery_entries(d) for k, d in self.deliveries.items() if d.delivered}

    def month_digests(self) -> dict[str, str]:
        by_month: dict[str, list[Entry]] = {}
        for (_, month), entries in self.delivered().items():
            by_month.setdefault(month, []).extend(entries)
        return {m: digest_of(e) for m, e in by_month.items()}

    def quiet_digests(self) -> dict[str, str]:
        """Per month with a delivery: its digest plus the size and modification time of the entries
        not read (copies in progress, files a marker does not list), so a month only settles once
        its folders are quiet, not merely once its finished files are."""
        by_month: dict[str, list[Entry]] = {}
        for (feed, month), d in self.deliveries.items():
            if not d.delivered:
                continue
            entries = by_month.setdefault(month, [])
            entries.extend(delivery_entries(d))
            for name in d.ignored:
                try:
                    stat = (self.raw_dir / feed / month / name).stat()
                except OSError:
                    stat = None
                entries.append(
                    (
                        feed,
                        name,
                        f"not read: {stat.st_size}/{stat.st_mtime_ns}" if stat else "not read",
                    )
                )
        return {m: digest_of(e) for m, e in by_month.items()}


def scan_deliveries(raw_dir: Path, first_month: date, cache: HashCache | None = None) -> RawScan:
    """Every month folder of every feed, as `feed_month_delivery` sees it, with its files' hashes.

    A file whose size and modification time match the cache is not hashed again;
    a changed file is re-hashed, so touching a file without changing it changes nothing.
    """
    survey = survey_raw(raw_dir, first_month)
    scan = RawScan(raw_dir, warnings=list(survey.warnings))
    hasher = cached_hasher(raw_dir, dict(cache or {}), scan.hashes)
    for feed in FEEDS:
        for month in survey.months[feed.name]:
            scan.deliveries[(feed.name, month_key(month))] = feed_month_delivery(
                raw_dir, feed, month, hasher
            )
    return scan


def loaded_entries(con) -> dict[tuple[str, str], list[Entry]]:
    """Files the raw layer last loaded, per (feed, YYYY-MM) (from raw.load_audit)."""
    rows = con.execute(
        "SELECT feed, strftime(month, '%Y-%m'), file, file_sha256 FROM raw.load_audit"
    ).fetchall()
    out: dict[tuple[str, str], list[Entry]] = {}
    for feed, month, file, sha in rows:
        out.setdefault((feed, month), []).append((feed, file, sha))
    return out


def loaded_digests(
    loaded: dict[tuple[str, str], list[Entry]], on_disk: dict[tuple[str, str], list[Entry]]
) -> dict[str, str]:
    """Digest per month of what is loaded for the feeds that have a delivery on disk that month.

    A feed-month without a delivery changes nothing when its month runs, so it
    takes no part in deciding whether the month's content changed.
    """
    by_month: dict[str, list[Entry]] = {}
    for feed, month in on_disk:
        by_month.setdefault(month, []).extend(loaded.get((feed, month), []))
    return {m: digest_of(e) for m, e in by_month.items()}
