"""Keyed pseudonyms for trader identity in published tables (HMAC-SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path


class MissingSecret(RuntimeError):
    pass


def pseudonym(secret: str, trader_id: str) -> str:
    """A stable, non-reversible id: the first 16 bytes of HMAC-SHA-256(secret, trader_id), hex."""
    return hmac.new(secret.encode("utf-8"), trader_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def demo_secret(path: Path) -> str:
    """The demo's key: generated once and kept beside the work database."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return value
