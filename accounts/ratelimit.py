"""Cache-based rate limits for the public account forms (sign-up, password reset).

A fixed window per bucket: the first hit starts the window, every hit counts, and once the
count passes the limit the caller is told how long until the window ends. Buckets are named
by a hash, so no e-mail address or IP is written into the cache's keys.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

from accounts.email_address import canonical_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    attempts: int
    window_seconds: int


class RateLimited(Exception):
    """Too many attempts in the window; `retry_after` is how many seconds until the next try."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _bucket(kind: str, value: str) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{kind}:{value}".encode()).hexdigest()[:32]
    return f"accounts:ratelimit:{kind}:{digest}"


# While the shared cache (Redis) is unreachable, each process counts on its own: the limits still
# hold per process (a few times looser over the workers) instead of every public form failing.
_local = LocMemCache("accounts-ratelimit-fallback", {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 10_000}})
CACHE_DOWN = (RedisError, ConnectionError, OSError)


def _with_cache(operation):
    try:
        return operation(cache)
    except CACHE_DOWN:
        log.warning("Rate-limit cache unreachable: counting in this process until it is back.")
        return operation(_local)


def add_once(key: str, timeout: int) -> bool:
    """`cache.add` (True when the key was new), falling back to this process while Redis is down."""
    return _with_cache(lambda c: c.add(key, 1, timeout=timeout))


def count_attempt(kind: str, value: str, limit: Limit) -> int | None:
    """Count one attempt in the bucket (`kind`, `value`); the seconds to wait if over the limit, else None."""
    return _with_cache(lambda c: _count(c, _bucket(kind, value), limit))


def _count(cache, key: str, limit: Limit) -> int | None:
    now = int(time.time())
    if cache.add(f"{key}:n", 0, timeout=limit.window_seconds):
        cache.set(f"{key}:start", now, timeout=limit.window_seconds)
    try:
        count = cache.incr(f"{key}:n")
    except ValueError:  # the window ended between add() and incr(): this attempt opens a new one
        cache.set(f"{key}:n", 1, timeout=limit.window_seconds)
        cache.set(f"{key}:start", now, timeout=limit.window_seconds)
        count = 1
    if count <= limit.attempts:
        return None
    started = cache.get(f"{key}:start") or now
    return max(1, started + limit.window_seconds - now)


def wait_phrase(seconds: int) -> str:
    """'3 minutes' / '1 minute' (rounded up): for the messages people read."""
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def limit_signup(ip: str | None) -> None:
    """Count a sign-up from `ip`; raise RateLimited when this address has signed up too often."""
    wait = count_attempt("signup-ip", ip or "unknown", Limit(*settings.SIGNUP_RATE_LIMIT_PER_IP))
    if wait:
        raise RateLimited(
            f"Too many accounts were created from your network recently. Try again in "
            f"{wait_phrase(wait)}, or ask an existing administrator to invite you.", retry_after=wait)


def limit_password_reset(ip: str | None, email: str) -> None:
    """Count a reset request from `ip` for `email`; raise RateLimited over either limit.

    The per-address limit applies whether or not an account exists, so it reveals nothing.
    """
    wait = count_attempt("reset-ip", ip or "unknown", Limit(*settings.PASSWORD_RESET_RATE_LIMIT_PER_IP))
    if wait:
        raise RateLimited(
            f"Too many password reset requests from your network. Try again in {wait_phrase(wait)}.",
            retry_after=wait)
    wait = count_attempt("reset-email", canonical_email(email),
                         Limit(*settings.PASSWORD_RESET_RATE_LIMIT_PER_EMAIL))
    if wait:
        raise RateLimited(
            f"We already sent several reset links to this address. Check your inbox and spam folder, "
            f"or try again in {wait_phrase(wait)}.", retry_after=wait)


def client_ip(request) -> str | None:
    """The client address, read the way django-axes reads it (so both agree behind a proxy)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request)
