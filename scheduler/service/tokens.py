"""Bearer tokens: 256 random bits, shown once, kept only as a sha256.

A token reads ``aicc_<id>_<secret>``: the id finds the record without
searching by secret; the comparison of hashes is constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "aicc_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant (``tenant`` set) or an admin (``tenant`` None)."""

    name: str  # for the audit log: "admin" or "tenant:<name>"
    tenant: str | None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.tenant is None


def new_token() -> tuple[str, str]:
    """(id, token)."""
    token_id = secrets.token_hex(6)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_of(token: str) -> str | None:
    if not token.startswith(PREFIX):
        return None
    rest = token[len(PREFIX):]
    token_id, sep, _ = rest.partition("_")
    return token_id if sep and token_id else None


def same(a_hex: str, b_hex: str) -> bool:
    return hmac.compare_digest(a_hex.encode(), b_hex.encode())
