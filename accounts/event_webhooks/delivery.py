"""Delivering one webhook: Standard Webhooks signing, an SSRF-safe request, retries.

SSRF: the endpoint's host is resolved at delivery time and refused when any address it
resolves to is private, loopback, link-local, multicast or reserved (loopback is allowed
only with ``WEBHOOKS_ALLOW_LOOPBACK``: development and tests). The connection then goes to
the address that was checked (httpcore's network backend is pinned to it), so a DNS answer
that changes between the check and the connection (rebinding) cannot redirect it; TLS still
verifies the certificate against the host name. No redirects are followed, the timeout is
short, and at most 1 kB of the answer is kept, with its status.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from standardwebhooks import Webhook

TIMEOUT_SECONDS = 5.0
EXCERPT_BYTES = 1024
# Standard Webhooks' suggested schedule: ~24 hours of retries after the first attempt.
RETRY_DELAYS = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5), timedelta(hours=10), timedelta(hours=10)]
USER_AGENT = "CareRelay-Webhooks/1"


class RefusedTarget(Exception):
    """The endpoint's address is not one we deliver to (SSRF guard)."""


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str
    excerpt: str


def body_of(payload: dict) -> str:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


def signature_header(secrets: list[str], event_id: str, timestamp: datetime, body: str) -> str:
    """``v1,<sig>`` for each secret (space-separated: a rotation's overlap window)."""
    return " ".join(Webhook(secret).sign(event_id, timestamp, body) for secret in secrets)


def headers_for(secrets: list[str], event_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    timestamp = timestamp.astimezone(UTC).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets, event_id, timestamp, body),
    }


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    if address.is_loopback:
        return bool(getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", False))
    return not (address.is_private or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified or not address.is_global)


def resolve_target(url: str) -> str:
    """The one address to connect to for ``url``, or RefusedTarget saying why."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and getattr(
            settings, "WEBHOOKS_ALLOW_LOOPBACK", False)):
        raise RefusedTarget("only https:// endpoints are delivered to")
    if not parts.hostname:
        raise RefusedTarget("the URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise RefusedTarget("the host name does not resolve") from None
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    refused = [a for a in addresses if not _allowed(a)]
    if refused or not addresses:
        raise RefusedTarget("the host resolves to a private, loopback or reserved address")
    return str(sorted(addresses, key=lambda a: (a.version, int(a)))[0])


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the checked address whatever host name the request names."""

    def __init__(self, address: str) -> None:
        self._address = address

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return super().connect_tcp(self._address, port, timeout=timeout, local_address=local_address,
                                   socket_options=socket_options)


@functools.cache
def _ssl_context():
    return httpx.create_ssl_context()  # loading the CA bundle costs ~0.3 s: once per process


def pinned_client(address: str, *, timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """A client whose every connection goes to ``address`` (from ``resolve_target``), whatever
    host the URL names, and which follows no redirect (Telnyx media downloads use it too)."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx offers no network-backend option; its transport wraps an httpcore pool we rebuild.
    transport._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), max_connections=1,
                                              network_backend=_PinnedBackend(address))
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)


def post(url: str, headers: dict[str, str], body: str) -> Attempt:
    """One attempt. 2xx is success; anything else (a redirect included) is a failure."""
    try:
        address = resolve_target(url)
    except RefusedTarget as refused:
        return Attempt(False, None, f"refused: {refused}", "")
    try:
        with pinned_client(address) as client, client.stream("POST", url, headers=headers,
                                                       content=body.encode()) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
            ok = 200 <= response.status_code < 300
            return Attempt(ok, response.status_code, "" if ok else f"HTTP {response.status_code}", text)
    except httpx.TimeoutException:
        return Attempt(False, None, f"no answer within {TIMEOUT_SECONDS:g} seconds", "")
    except httpx.HTTPError as error:
        return Attempt(False, None, f"connection failed ({type(error).__name__})", "")


def next_delay(attempts_made: int) -> timedelta | None:
    """How long until the next attempt after ``attempts_made`` failures (None: give up)."""
    index = attempts_made - 1
    return RETRY_DELAYS[index] if 0 <= index < len(RETRY_DELAYS) else None
