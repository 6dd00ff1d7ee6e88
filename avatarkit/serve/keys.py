"""API keys: random secrets shown once, stored only as a peppered hash, with scopes.

A secret is `ak_` plus 32 random bytes (URL-safe base64). The store keeps
HMAC-SHA256(pepper, secret): a 256-bit random secret cannot be guessed, so a
fast keyed hash is enough, and being deterministic it lets the store find
the key by its hash in one indexed lookup. Secrets are never logged; only
`redact` forms of them may appear in messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from ..errors import AvatarkitError

PREFIX = "ak_"
SCOPES = ("renders:create", "renders:read", "renders:cancel", "live", "admin")


class KeyError_(AvatarkitError):
    """An API key request that names an unknown scope or key."""


@dataclass(frozen=True)
class ApiKey:
    """An authenticated key: its store id, name, scopes and per-key limits (empty: the service defaults)."""

    id: str
    name: str
    scopes: frozenset[str]
    limits: dict = field(default_factory=dict)

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def new_secret() -> str:
    """A fresh secret: `ak_` + 32 random bytes as unpadded URL-safe base64 (46 characters)."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def hash_secret(secret: str, pepper: bytes) -> str:
    """The stored form of `secret`: hex HMAC-SHA256 keyed by the server's pepper."""
    return hmac.new(pepper, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def redact(secret: str) -> str:
    """A loggable stand-in for a secret: its prefix and first 4 characters only."""
    return secret[:7] + "…" if secret.startswith(PREFIX) else "…"


def check_scopes(scopes) -> list[str]:
    """`scopes` as a sorted list; `KeyError_` naming any that is not one of `SCOPES`."""
    out = sorted(set(scopes))
    for s in out:
        if s not in SCOPES:
            raise KeyError_(f"unknown scope {s!r}; expected one of {', '.join(SCOPES)}")
    if not out:
        raise KeyError_(f"give at least one scope ({', '.join(SCOPES)})")
    return out


def create_key(store, name: str, scopes, pepper: bytes, limits: dict | None = None) -> tuple[str, str]:
    """Create a key in `store`; return (key id, secret). The secret is not stored and cannot be shown again."""
    secret = new_secret()
    key_id = store.create_key(name, check_scopes(scopes), hash_secret(secret, pepper), dict(limits or {}))
    return key_id, secret


def authenticate(store, header: str | None, pepper: bytes) -> ApiKey | None:
    """The live key named by an `Authorization: Bearer ak_...` header, or None (missing, malformed, unknown, revoked)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = store.get_key_by_hash(hash_secret(token, pepper))
    if not row or row.get("revoked") or row.get("revoked_at"):
        return None
    return ApiKey(str(row["id"]), str(row.get("name", "")), frozenset(row.get("scopes") or ()), dict(row.get("limits") or {}))
