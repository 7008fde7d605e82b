"""API keys: stored only as SHA-256 hashes, compared in constant time, each with scopes.

Keys are optional in development on a loopback address (no key configured: every route is open, see
:mod:`api.security`) and required as soon as one is configured; the same key twice is refused. Clients
send ``Authorization: Bearer <key>``. ``python -m api new-key`` makes a key and the record to configure
(``ADCREATIVE_API_KEYS`` or ``ADCREATIVE_API_KEYS_FILE``); the key itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from core.errors import ServiceError

Scope = Literal[
    "generate", "templates:write", "adapters:write", "experiments:read", "experiments:write", "events:write"
]
SCOPES: tuple[Scope, ...] = get_args(Scope)
KEY_PREFIX = "adc_"


class ApiKeyRecord(BaseModel):
    """One configured key: a name for logs, the key's SHA-256 (hex), its scopes, and whether it is revoked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: tuple[Scope, ...] = ("generate",)
    revoked: bool = False


class AuthError(ServiceError):
    """A request without a usable key (401) or without the scope it needs (403)."""

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message, code=code)
        self.status = status
        self.error_type = "authentication_error" if status == 401 else "permission_error"

    def headers(self) -> dict[str, str]:
        """401 names the scheme the client should use."""
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(name: str, scopes: Iterable[Scope] = ("generate",)) -> tuple[str, ApiKeyRecord]:
    """A fresh random key and the record that authorizes it (show the key once; store the record)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, ApiKeyRecord(name=name, sha256=hash_key(key), scopes=tuple(scopes))


def read_key_file(path: Path) -> list[ApiKeyRecord]:
    """Key records from a JSON file holding a list of records."""
    return TypeAdapter(list[ApiKeyRecord]).validate_json(path.read_bytes())


class KeyRing:
    """The configured keys; :meth:`authorize` checks a presented key against a scope."""

    def __init__(self, records: Iterable[ApiKeyRecord]):
        self.records = list(records)
        names_by_hash: dict[str, list[str]] = {}
        for record in self.records:
            names_by_hash.setdefault(record.sha256, []).append(record.name)
        duplicates = [names for names in names_by_hash.values() if len(names) > 1]
        if duplicates:  # a revoked copy listed first would not revoke a live one: refuse, do not guess
            raise ValueError(
                "the same API key is configured more than once (records "
                + "; ".join(" and ".join(repr(n) for n in names) for names in duplicates)
                + "): keep one record per key"
            )

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured (then every protected route needs one)."""
        return bool(self.records)

    def _match(self, presented: str) -> ApiKeyRecord | None:
        digest = hash_key(presented)
        found = None
        for record in self.records:  # compare with every record: the time does not depend on which matched
            if hmac.compare_digest(digest, record.sha256):
                found = record
        return found

    def authorize(self, authorization: str | None, scope: Scope) -> ApiKeyRecord | None:
        """The matching record (None in open mode); :class:`AuthError` for a missing/bad key or scope."""
        if not self.enabled:
            return None
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise AuthError(401, "missing API key: send `Authorization: Bearer <key>`", "missing_api_key")
        record = self._match(presented.strip())
        if record is None:
            raise AuthError(401, "invalid API key", "invalid_api_key")
        if record.revoked:
            raise AuthError(401, "this API key has been revoked", "revoked_api_key")
        if scope not in record.scopes:
            raise AuthError(403, f"this API key lacks the `{scope}` scope", "insufficient_scope")
        return record
