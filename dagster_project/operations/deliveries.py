"""What is on disk and what was loaded, as content digests per month (pure helpers)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.contract import FEEDS
from dagster_project.ingest.files import MONTH_DIR, sha256_of

# relative path -> [size, mtime_ns, sha256]; lets a scan skip re-hashing unchanged files
HashCache = dict[str, list]


@dataclass
class MonthDelivery:
    month: str  # YYYY-MM
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (feed, file name, sha256)

    @property
    def digest(self) -> str:
        return digest_of(self.files)


def digest_of(files: list[tuple[str, str, str]]) -> str:
    """One digest for a month's files across feeds: names and contents, order-independent."""
    h = hashlib.sha256()
    for feed, name, sha in sorted(files):
        h.update(f"{feed}/{name}:{sha}\n".encode())
    return h.hexdigest()


def scan_deliveries(raw_dir: Path, cache: HashCache | None = None) -> tuple[dict[str, MonthDelivery], HashCache]:
    """Every month folder of every feed with its files' content hashes.

    A file whose size and modification time match the cache is not hashed again;
    a changed file is re-hashed, so touching a file without changing it changes nothing.
    """
    cache = dict(cache or {})
    fresh: HashCache = {}
    months: dict[str, MonthDelivery] = {}
    for feed in FEEDS:
        feed_dir = raw_dir / feed.name
        if not feed_dir.is_dir():
            continue
        for month_dir in sorted(feed_dir.iterdir()):
            if not (month_dir.is_dir() and MONTH_DIR.match(month_dir.name)):
                continue
            delivery = months.setdefault(month_dir.name, MonthDelivery(month_dir.name))
            for f in sorted(month_dir.iterdir()):
                if f.name.startswith(".") or not f.is_file():
                    continue
                rel = f"{feed.name}/{month_dir.name}/{f.name}"
                stat = f.stat()
                hit = cache.get(rel)
                if hit and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
                    sha = hit[2]
                else:
                    sha = sha256_of(f)
                fresh[rel] = [stat.st_size, stat.st_mtime_ns, sha]
                delivery.files.append((feed.name, f.name, sha))
    return months, fresh


def loaded_deliveries(con) -> dict[str, str]:
    """Digest per month of what the raw layer last loaded (from raw.load_audit)."""
    rows = con.execute(
        "SELECT strftime(month, '%Y-%m'), feed, file, file_sha256 FROM raw.load_audit"
    ).fetchall()
    by_month: dict[str, list[tuple[str, str, str]]] = {}
    for month, feed, file, sha in rows:
        by_month.setdefault(month, []).append((feed, file, sha))
    return {m: digest_of(files) for m, files in by_month.items()}
