"""Per-key request limits held in Redis and sized by the organisation's plan.

A fixed one-minute window per key (one round trip: a script that counts and sets the expiry). Answers carry
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the
window resets); a refused request is a 429 with ``Retry-After``. Without Redis (the
embedded mode) the window is process-local.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60
_KEY = "carerelay:api:rate:{key}:{window}"


def requests_per_minute(organization_id: int) -> int:
    """The organisation's allowance: ``API_RATE_LIMIT_RESOLVER`` (the plan), else the default."""
    resolver = getattr(settings, "API_RATE_LIMIT_RESOLVER", "")
    if resolver:
        return int(import_string(resolver)(organization_id=organization_id))
    return int(settings.API_REQUESTS_PER_MINUTE)


class _LocalCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def incr(self, key: str) -> int:
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts.clear()
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


_local = _LocalCounter()
_counter = None
# The window's count and its expiry in one round trip (a pipeline object costs more to build
# than the call itself on this per-request path).
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _count_script():
    global _counter
    if _counter is None:
        import redis

        _counter = redis.Redis.from_url(settings.REDIS_URL).register_script(_COUNT)
    return _counter


def hit(key_id: str, now: float | None = None) -> tuple[int, int]:
    """Count one request of ``key_id``: (requests in this window, seconds until it resets)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    reset = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
    name = _KEY.format(key=key_id, window=window)
    if not settings.REDIS_URL:
        return _local.incr(name), reset
    count = _count_script()(keys=[name], args=[WINDOW_SECONDS + 5])
    return int(count), reset


class PlanRateThrottle(BaseThrottle):
    """Refuse past the plan's requests per minute; remember the figures for the headers."""

    def allow_request(self, request, view) -> bool:
        principal = request.user
        actor = getattr(principal, "actor", None)
        if actor is None:
            return True
        limit = requests_per_minute(actor.organization_id)
        count, reset = hit(actor.pk)
        request.rate_limit = (limit, max(limit - count, 0), reset)
        self._wait = reset
        return count <= limit

    def wait(self) -> float:
        return float(self._wait)
