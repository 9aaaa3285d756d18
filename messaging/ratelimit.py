"""Per-channel send pacing shared by every worker: reservations on a GCRA schedule.

``reserve(channel_id, per_second, count)`` hands out ``count`` consecutive send *slots* and
says when the first one is (seconds from now) and how far apart they are (``1/per_second``).
A message is then scheduled once for its slot — nothing wakes up to ask again. The rule is
the Generic Cell Rate Algorithm with no burst allowance: the channel keeps one number, its
theoretical arrival time (TAT, the earliest free slot); a reservation starts at
``max(now, TAT)`` and moves TAT on by ``count`` intervals. Slots are exactly ``1/per_second``
apart, so no window of one second ever holds more than ``per_second`` of them, whichever
worker or machine reserved them — the cap providers count ("messages per second").

- With Redis (``REDIS_URL``) the TAT is one key per channel, read and moved by one Lua
  script (atomic; clocked by the Redis server's ``TIME`` so workers' clocks don't matter,
  or by an injected clock in tests);
- without Redis (the embedded default: tasks run in-process), the same rule in this process.

Idle time earns no credit (a channel quiet for an hour does not get to burst), and a
reserved slot is spent even if its message is then refused: the schedule never goes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

KEY_PREFIX = "carerelay:pacing:channel:"
_US = 1_000_000


def _now_from(argv: int) -> str:
    """Lua setting ``now`` (µs) from ARGV[argv], or from the Redis server's clock when it is ""
    (tests pass a fake clock; production uses one clock for every worker)."""
    return f"""local now
if ARGV[{argv}] ~= '' then
  now = tonumber(ARGV[{argv}])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""


# KEYS[1] the channel's TAT (µs). ARGV: interval (µs), count, now (µs; "" = the server's TIME).
# Returns {µs from now to the first slot, interval µs}. The key expires once its TAT has passed.
_LUA = """
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
""" + _now_from(3) + """local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local first = math.max(now, tat)
local next_free = first + interval * count
redis.call('SET', KEYS[1], string.format('%.0f', next_free),
           'PX', math.floor((next_free - now) / 1000) + 1000)
return {first - now, interval}
"""


# The send-time cap: a sliding window of the channel's last sends (a sorted set of µs stamps).
# KEYS[1] the window; ARGV: window µs, limit, a unique member prefix, count, now (µs; "" = the
# server's TIME). Counts up to ``count`` sends now; returns {sends counted, 0}, or {0, µs until
# the oldest send leaves the window} when the window is full.
_CAP_LUA = """
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local count = tonumber(ARGV[4])
""" + _now_from(5) + """redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local room = limit - redis.call('ZCARD', KEYS[1])
if room > 0 then
  local n = math.min(room, count)
  for i = 1, n do
    redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
  return {n, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
"""
CAP_KEY_PREFIX = "carerelay:pacing:sent:"
# Slots are exact, but a task runs when its worker gets to it: one held up a moment (a busy
# worker, a late ETA timer) then sends right beside the next ones. The cap counts sends as they
# happen over a window a little longer than a second (the margin covers the network between the
# worker and the provider), so the provider never sees more than ``per_second`` in any second.
CAP_WINDOW_US = 1_050_000
# Sends counted together (``admit_many``) are made one after another by their worker; the caller
# makes each within ADMIT_AHEAD_SECONDS of the count (and drops the rest), and such a count's
# window is longer by as much, so the network keeps the same margin.
ADMIT_AHEAD_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Admission:
    """Sends the cap counted just now (``count``), or, when none, seconds until one fits (``wait``)."""

    count: int
    wait: float


def _cap_window_us(count: int) -> int:
    return CAP_WINDOW_US + (round(ADMIT_AHEAD_SECONDS * _US) if count > 1 else 0)


def admit_batch_size(per_second: int) -> int:
    """How many sends to count at once: as many as the channel's rate allows in ADMIT_AHEAD_SECONDS
    (one for slow channels, so their pacing is the single-send cap exactly)."""
    return max(1, int(max(1, int(per_second)) * ADMIT_AHEAD_SECONDS))


@dataclass(frozen=True, slots=True)
class Reservation:
    """``count`` send slots: the first ``wait`` seconds from now, then one every ``interval``."""

    wait: float
    interval: float
    count: int

    def waits(self) -> list[float]:
        """Seconds from now to each slot, in order."""
        return [self.wait + n * self.interval for n in range(self.count)]


def interval_us(per_second: int) -> int:
    """Microseconds between two sends of a channel allowed ``per_second`` messages a second."""
    return max(1, round(_US / max(1, int(per_second))))


class RedisRateLimiter:
    """The shared limiter: one Lua call per reservation, however many slots it takes."""

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None) -> None:
        """``clock`` (seconds, e.g. a fake clock in tests) replaces the Redis server's TIME."""
        import redis

        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_LUA)
        self._cap_script = self._client.register_script(_CAP_LUA)
        self._clock = clock

    def reserve(self, channel_id: int, per_second: int, count: int = 1) -> Reservation:
        """Reserve ``count`` consecutive send slots of the channel."""
        if count < 1:
            raise ValueError("reserve at least one slot")
        now = "" if self._clock is None else str(int(self._clock() * _US))
        wait_us, step_us = self._script(keys=[f"{KEY_PREFIX}{channel_id}"],
                                        args=[interval_us(per_second), int(count), now])
        return Reservation(int(wait_us) / _US, int(step_us) / _US, count)

    def reset(self, channel_id: int) -> None:
        """Forget a channel's schedule (tests, and a channel whose rate was changed)."""
        self._client.delete(f"{KEY_PREFIX}{channel_id}", f"{CAP_KEY_PREFIX}{channel_id}")

    def admit_many(self, channel_id: int, per_second: int, count: int) -> Admission:
        """The send-time cap: count up to ``count`` sends now, as many as the channel's last
        second has room for, else say how long until one fits (nothing counted). One Redis call
        for a run of sends; see ADMIT_AHEAD_SECONDS for how soon they must go."""
        import uuid

        now = "" if self._clock is None else str(int(self._clock() * _US))
        counted, wait_us = self._cap_script(
            keys=[f"{CAP_KEY_PREFIX}{channel_id}"],
            args=[_cap_window_us(count), max(1, int(per_second)), uuid.uuid4().hex, max(1, int(count)), now])
        return Admission(int(counted), int(wait_us) / _US)


class LocalRateLimiter:
    """The embedded limiter: the same schedule, in this process only."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free: dict[int, int] = {}  # channel id -> TAT (µs on this limiter's clock)
        self._sent: dict[int, list[int]] = {}  # channel id -> recent send stamps (the cap)

    def reserve(self, channel_id: int, per_second: int, count: int = 1) -> Reservation:
        """Reserve ``count`` consecutive send slots of the channel."""
        if count < 1:
            raise ValueError("reserve at least one slot")
        step = interval_us(per_second)
        with self._lock:
            now = int(self._clock() * _US)
            first = max(now, self._next_free.get(channel_id, 0))
            self._next_free[channel_id] = first + step * count
        return Reservation((first - now) / _US, step / _US, count)

    def reset(self, channel_id: int) -> None:
        """Forget a channel's schedule (tests)."""
        with self._lock:
            self._next_free.pop(channel_id, None)
            self._sent.pop(channel_id, None)

    def admit_many(self, channel_id: int, per_second: int, count: int) -> Admission:
        """The send-time cap (see ``RedisRateLimiter.admit_many``), in this process."""
        window = _cap_window_us(count)
        with self._lock:
            now = int(self._clock() * _US)
            sent = self._sent.setdefault(channel_id, [])
            sent[:] = [t for t in sent if t > now - window]
            room = max(1, int(per_second)) - len(sent)
            if room > 0:
                counted = min(room, max(1, int(count)))
                sent.extend([now] * counted)
                return Admission(counted, 0.0)
            return Admission(0, max(1, sent[0] + window - now) / _US)


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
