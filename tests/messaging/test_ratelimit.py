"""The per-channel limit holds across many concurrent senders (real Redis, and the local fallback)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings

from messaging.ratelimit import LocalRateLimiter, RedisRateLimiter


def hammer(limiter, channel_id: int, per_second: int, seconds: float, threads: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        while time.monotonic() < deadline:
            wait = limiter.acquire(channel_id, per_second)
            if wait == 0:
                with lock:
                    stamps.append(time.monotonic())
            else:
                time.sleep(min(wait, 0.02))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sorted(stamps)


def max_in_window(stamps: list[float], window: float) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def redis_limiter():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    return RedisRateLimiter(settings.REDIS_URL)


def test_many_threads_never_exceed_the_channel_rate_in_redis(redis_limiter):
    channel_id = 10_000_000 + uuid.uuid4().int % 1_000_000
    stamps = hammer(redis_limiter, channel_id, per_second=5, seconds=2.6, threads=12)
    redis_limiter.reset(channel_id)
    # Stamps are taken after the Redis call returns: allow a few ms of jitter on the window.
    assert max_in_window(stamps, 0.95) <= 5
    assert 11 <= len(stamps) <= 15  # ~5 per second for 2.6 s: the limit is a limit, not a stall


def test_two_channels_have_separate_limits(redis_limiter):
    first, second = (10_000_000 + uuid.uuid4().int % 1_000_000 for _ in range(2))
    assert [redis_limiter.acquire(first, 1), redis_limiter.acquire(second, 1)] == [0, 0]
    assert redis_limiter.acquire(first, 1) > 0
    redis_limiter.reset(first)
    redis_limiter.reset(second)


def test_the_wait_says_when_a_slot_frees_up(redis_limiter):
    channel_id = 10_000_000 + uuid.uuid4().int % 1_000_000
    assert redis_limiter.acquire(channel_id, 2) == 0
    assert redis_limiter.acquire(channel_id, 2) == 0
    wait = redis_limiter.acquire(channel_id, 2)
    assert 0.5 < wait <= 1.0
    time.sleep(wait + 0.01)
    assert redis_limiter.acquire(channel_id, 2) == 0
    redis_limiter.reset(channel_id)


def test_the_local_limiter_holds_the_same_rule():
    stamps = hammer(LocalRateLimiter(), 1, per_second=4, seconds=2.2, threads=8)
    assert max_in_window(stamps, 0.99) <= 4
    assert 8 <= len(stamps) <= 12
