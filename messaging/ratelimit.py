"""Per-channel send rate limits shared by every worker: a sliding-window log.

``acquire(channel_id, per_second)`` either takes a slot (returns 0.0) or says how many
seconds until one frees up. In any one-second window no more than ``per_second`` sends
start, whichever worker or machine makes them:

- with Redis (``REDIS_URL``), the window is a sorted set per channel, updated by one Lua
  script (atomic, clocked by the Redis server so workers' clocks don't matter);
- without Redis (the embedded default: tasks run in-process), a process-local window.

A token bucket would allow a burst of 2N across a window boundary; providers count
messages per second, so the log is the stricter, simpler guarantee.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque

from django.conf import settings

WINDOW_SECONDS = 1.0
KEY_PREFIX = "carerelay:ratelimit:channel:"

# KEYS[1] the channel's window; ARGV: limit, window (µs), a unique member.
# Returns 0 when a slot was taken, else the microseconds until the oldest entry expires.
_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.floor(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisRateLimiter:
    """The shared limiter: one Lua call per attempt."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_LUA)

    def acquire(self, channel_id: int, per_second: int) -> float:
        """Take a send slot for the channel (0.0), or return the seconds to wait for one."""
        waited_us = self._script(
            keys=[f"{KEY_PREFIX}{channel_id}"],
            args=[max(1, per_second), int(WINDOW_SECONDS * 1_000_000), uuid.uuid4().hex],
        )
        return int(waited_us) / 1_000_000

    def reset(self, channel_id: int) -> None:
        """Forget a channel's window (tests)."""
        self._client.delete(f"{KEY_PREFIX}{channel_id}")


class LocalRateLimiter:
    """The embedded limiter: the same sliding window, in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[int, deque[float]] = {}

    def acquire(self, channel_id: int, per_second: int) -> float:
        """Take a send slot for the channel (0.0), or return the seconds to wait for one."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(channel_id, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) < max(1, per_second):
                window.append(now)
                return 0.0
            return max(window[0] + WINDOW_SECONDS - now, 0.001)

    def reset(self, channel_id: int) -> None:
        """Forget a channel's window (tests)."""
        with self._lock:
            self._windows.pop(channel_id, None)


_limiter: RedisRateLimiter | LocalRateLimiter | None = None
_limiter_url: str | None = None


def get_rate_limiter() -> RedisRateLimiter | LocalRateLimiter:
    """The process's limiter: Redis when REDIS_URL is set, else process-local."""
    global _limiter, _limiter_url
    url = settings.REDIS_URL or ""
    if _limiter is None or url != _limiter_url:
        _limiter = RedisRateLimiter(url) if url else LocalRateLimiter()
        _limiter_url = url
    return _limiter
