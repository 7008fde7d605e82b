"""Fail closed: the start-up policy for open mode (no API keys) and the trusted-host check.

- **Open mode** (no key configured: every route answers without a key) is for development on a loopback
  address. Binding any other address without keys, an explicitly empty key list, or an empty key file
  refuses to start (:class:`StartupRefusedError`) unless ``ADCREATIVE_ALLOW_OPEN=true`` says open is intended;
  open mode always logs a warning at start.
- **Trusted hosts**: a request whose ``Host`` header is not an allowed name is answered 400 before any
  route runs. A page on another site that rebinds its DNS name to 127.0.0.1 reaches a loopback server with
  its own name in ``Host``, so this stops it from reading templates or moving labels from a browser.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import ApiKeyRecord, KeyRing, read_key_file
from api.errors import error_body
from api.settings import ApiSettings
from core.schema import ErrorInfo

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_BINDS = {"", "0.0.0.0", "::", "[::]"}
OPEN_MODE_WARNING = "open mode: no API keys are configured, every route answers without a key"
UNCHECKED_PATHS = {"/health"}  # probes (load balancers, Kubernetes) send the pod's address as Host


class StartupRefusedError(RuntimeError):
    """The configuration would serve insecurely; the message says what to change."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.0/8``, ``::1``)."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _file_records(path: Path) -> list[ApiKeyRecord]:
    try:
        if not path.read_bytes().strip():
            return []
        return read_key_file(path)
    except OSError as exc:
        raise StartupRefusedError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise StartupRefusedError(
            f"the API key file {path} is not a JSON list of key records ({where}: {first['msg']})"
        ) from None


def load_key_ring(settings: ApiSettings) -> KeyRing:
    """The configured keys; :class:`StartupRefusedError` when the configuration would serve open by accident.

    Refused unless ``allow_open``: keys configured but empty (``ADCREATIVE_API_KEYS=[]``, an empty key
    file) and no keys on a non-loopback host. Duplicate key hashes are always refused.
    """
    records = list(settings.api_keys)
    empty_sources = []
    if "api_keys" in settings.model_fields_set and not settings.api_keys:
        empty_sources.append("ADCREATIVE_API_KEYS is an empty list")
    if settings.api_keys_file is not None:
        from_file = _file_records(settings.api_keys_file)
        if not from_file:
            empty_sources.append(f"the key file {settings.api_keys_file} holds no keys")
        records += from_file
    try:
        ring = KeyRing(records)
    except ValueError as exc:
        raise StartupRefusedError(str(exc)) from None
    if ring.enabled:
        return ring
    allow = "set ADCREATIVE_ALLOW_OPEN=true to serve without keys on purpose"
    if not settings.allow_open:
        if empty_sources:
            raise StartupRefusedError(
                f"API keys are configured but none is given ({'; '.join(empty_sources)}): {allow}"
            )
        if not is_loopback(settings.host):
            raise StartupRefusedError(
                f"no API keys are configured and the server would listen on {settings.host!r}, which is not "
                f"a loopback address: configure keys (python -m api new-key), bind 127.0.0.1, or {allow}"
            )
    return ring


def warn_open_mode(settings: ApiSettings) -> None:
    """The warning a server without keys logs when it starts serving."""
    logger.warning(OPEN_MODE_WARNING, extra={"host": settings.host, "allow_open": settings.allow_open})


def allowed_hosts(settings: ApiSettings) -> list[str]:
    """The ``Host`` names requests may use: the setting plus the bound address (unless it is a wildcard)."""
    hosts = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    bound = settings.host.strip().lower()
    if bound not in WILDCARD_BINDS:
        if ":" in bound and not bound.startswith("["):  # an IPv6 literal appears bracketed in Host
            bound = f"[{bound}]"
        hosts.append(bound)
    return list(dict.fromkeys(hosts))


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: lowercase, without the port (IPv6 literals keep brackets)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.split(":", 1)[0]


def host_allowed(name: str, patterns: list[str]) -> bool:
    """``name`` matches a pattern: exactly, ``*`` (any), or ``*.example.com`` (any subdomain)."""
    for pattern in patterns:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class TrustedHosts:
    """Answer 400 (``untrusted_host``) to a request whose ``Host`` is not allowed (``/health`` excepted)."""

    def __init__(self, app: ASGIApp, hosts: list[str]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        if host_allowed(name, self.hosts):
            await self.app(scope, receive, send)
            return
        info = ErrorInfo(
            message=f"host {name or '(none)'!r} is not allowed; add it to ADCREATIVE_ALLOWED_HOSTS",
            param="Host",
            code="untrusted_host",
        )
        body = error_body(info)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
