"""Keyed pseudonyms for trader identity in published tables (HMAC-SHA-256).

Policy: row-level data are published only with a key. The key is
`CUSTOMS_KPI_SECRET`; without it a run refuses to publish, except in the demo
(`CUSTOMS_KPI_DEMO=1`, which `make run` and `make dev` set), where a key is
generated once and kept under the data dir (`work/pseudonym.key`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster_project.settings import Settings

DEMO_KEY_NAME = "pseudonym.key"

MISSING_SECRET_MESSAGE = (
    "CUSTOMS_KPI_SECRET is not set: refusing to publish row-level data (trader identity is pseudonymised "
    "with that key). Set CUSTOMS_KPI_SECRET to a long random value kept outside the data dir "
    "(e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))'), "
    "or set CUSTOMS_KPI_DEMO=1 for a demo run with a generated key (make run does)."
)


class MissingSecret(RuntimeError):
    """No key for the pseudonyms, and not a demo: nothing may be published."""

    def __init__(self, message: str = MISSING_SECRET_MESSAGE):
        super().__init__(message)


def pseudonym(secret: str, trader_id: str) -> str:
    """A stable, non-reversible id: the first 16 bytes of HMAC-SHA-256(secret, trader_id), hex."""
    return hmac.new(secret.encode("utf-8"), trader_id.encode("utf-8"), hashlib.sha256).hexdigest()[
        :32
    ]


def demo_secret(path: Path) -> str:
    """The demo's key: generated once and kept beside the work database."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return value


def demo_key_path(settings: "Settings") -> Path:
    return settings.work_dir / DEMO_KEY_NAME


def resolve_secret(settings: "Settings") -> tuple[str, str]:
    """The key for this run and where it came from; raises MissingSecret outside the demo."""
    if settings.secret:
        return settings.secret, "CUSTOMS_KPI_SECRET"
    if settings.demo:
        path = demo_key_path(settings)
        return demo_secret(path), f"demo key {path}"
    raise MissingSecret()
