"""Send-slot reservations hold the channel's rate exactly across concurrent reservers.

Every test runs on a fake clock handed to the limiter (the Lua script takes it in place of
Redis's TIME), so nothing depends on how fast this machine happens to be: the assertions are
exact, in microseconds.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid

import pytest
from django.conf import settings

from messaging.ratelimit import (
    ADMIT_AHEAD_SECONDS,
    CAP_WINDOW_US,
    Admission,
    LocalRateLimiter,
    RedisRateLimiter,
    Reservation,
    admit_batch_size,
)

US = 1_000_000


class FakeClock:
    """Seconds since an arbitrary epoch; moves only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def slots_of(reservation: Reservation, at: float) -> list[int]:
    """The reservation's slots as absolute microseconds on the fake clock."""
    return [round((at + wait) * US) for wait in reservation.waits()]


def hammer(limiter, clock: FakeClock, channel_id: int, per_second: int, *, threads: int, ticks: int,
           tick_seconds: float) -> list[int]:
    """``threads`` reservers race for slots at each of ``ticks`` clock readings; all slots granted."""
    granted: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    rng = random.Random(7)
    plans = [[rng.randint(1, 3) for _ in range(3)] for _ in range(threads)]  # 1-3 slots, 3 calls a tick

    def reserver(plan: list[int]):
        for _ in range(ticks):
            barrier.wait()  # the clock is set: everyone reserves at the same instant
            at = clock()
            for count in plan:
                slots = slots_of(limiter.reserve(channel_id, per_second, count), at)
                with lock:
                    granted.extend(slots)
            barrier.wait()  # done: the clock may move

    pool = [threading.Thread(target=reserver, args=(plan,)) for plan in plans]
    for thread in pool:
        thread.start()
    for _ in range(ticks):
        barrier.wait()
        barrier.wait()
        clock.advance(tick_seconds)
    for thread in pool:
        thread.join()
    return sorted(granted)


def max_in_window(stamps: list[int], window_us: int) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window_us:
            start += 1
        best = max(best, end - start + 1)
    return best


def assert_paced_exactly(slots: list[int], per_second: int, expected: int) -> None:
    assert len(slots) == expected == len(set(slots))  # every reservation got its own slots
    gaps = {b - a for a, b in itertools.pairwise(slots)}
    assert gaps == {US // per_second}  # back to back, exactly 1/rate apart: no overlap, no hole
    assert max_in_window(slots, US) == per_second  # the cap, exactly, in every one-second window


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_limiter(clock):
    assert settings.REDIS_URL, "the rate-limit tests run against Redis (set REDIS_URL)"
    return RedisRateLimiter(settings.REDIS_URL, clock=clock)


@pytest.fixture
def channel_id(redis_limiter):
    ident = 10_000_000 + uuid.uuid4().int % 1_000_000
    yield ident
    redis_limiter.reset(ident)


def test_many_concurrent_reservers_never_exceed_the_channel_rate_in_redis(redis_limiter, clock, channel_id):
    # 12 threads x 3 calls x 1-3 slots each per tick, 4 ticks of 0.5 s: demand far over 5/s.
    slots = hammer(redis_limiter, clock, channel_id, per_second=5, threads=12, ticks=4, tick_seconds=0.5)
    rng = random.Random(7)
    expected = 4 * sum(sum(rng.randint(1, 3) for _ in range(3)) for _ in range(12))
    assert_paced_exactly(slots, per_second=5, expected=expected)
    assert slots[0] == round(1_800_000_000.0 * US)  # the first slot is "now": the limit is not a stall


def test_the_local_limiter_holds_the_same_rule(clock):
    limiter = LocalRateLimiter(clock=clock)
    slots = hammer(limiter, clock, 1, per_second=4, threads=8, ticks=3, tick_seconds=0.25)
    rng = random.Random(7)
    expected = 3 * sum(sum(rng.randint(1, 3) for _ in range(3)) for _ in range(8))
    assert_paced_exactly(slots, per_second=4, expected=expected)


def test_two_channels_have_separate_schedules(redis_limiter, channel_id):
    other = channel_id + 1
    try:
        assert [redis_limiter.reserve(channel_id, 1).wait, redis_limiter.reserve(other, 1).wait] == [0, 0]
        assert redis_limiter.reserve(channel_id, 1).wait == 1.0
    finally:
        redis_limiter.reset(other)


@pytest.mark.parametrize("make", ["redis", "local"])
def test_slots_are_spaced_one_over_the_rate_and_idle_time_earns_no_burst(make, redis_limiter, channel_id,
                                                                          clock):
    limiter = redis_limiter if make == "redis" else LocalRateLimiter(clock=clock)
    assert [limiter.reserve(channel_id, 2).wait for _ in range(3)] == [0.0, 0.5, 1.0]
    clock.advance(1.0)
    assert limiter.reserve(channel_id, 2).wait == 0.5  # the next free slot moved on by 1 s of the 1.5
    clock.advance(3600)  # an idle hour
    assert [limiter.reserve(channel_id, 2).wait for _ in range(2)] == [0.0, 0.5]  # no saved-up burst


@pytest.mark.parametrize("make", ["redis", "local"])
def test_a_batch_reserves_consecutive_slots_in_one_call(make, redis_limiter, channel_id, clock):
    limiter = redis_limiter if make == "redis" else LocalRateLimiter(clock=clock)
    batch = limiter.reserve(channel_id, 4, count=10)
    assert (batch.wait, batch.interval, batch.count) == (0.0, 0.25, 10)
    assert batch.waits() == [n * 0.25 for n in range(10)]
    assert limiter.reserve(channel_id, 4).wait == 2.5  # the slot after the batch's last
    with pytest.raises(ValueError):
        limiter.reserve(channel_id, 4, count=0)


def test_without_a_clock_redis_clocks_the_schedule_itself(channel_id):
    limiter = RedisRateLimiter(settings.REDIS_URL)  # production: the Redis server's TIME
    try:
        assert limiter.reserve(channel_id, 1, count=100).wait == 0
        # 100 slots at 1/s were just taken: the next is ~100 s away, whatever the time between calls.
        assert 90 < limiter.reserve(channel_id, 1).wait <= 100
    finally:
        limiter.reset(channel_id)


# --- the send-time cap ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", ["redis", "local"])
def test_the_cap_counts_single_sends_up_to_the_rate_then_says_when_one_fits(make, redis_limiter, channel_id,
                                                                           clock):
    limiter = redis_limiter if make == "redis" else LocalRateLimiter(clock=clock)
    def admit(channel_id, per_second):  # one send: 0.0 once counted, else the wait
        admission = limiter.admit_many(channel_id, per_second, 1)
        return 0.0 if admission.count else admission.wait

    assert [admit(channel_id, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.advance(0.25)
    assert admit(channel_id, 3) == pytest.approx(CAP_WINDOW_US / US - 0.25)  # nothing counted
    clock.advance(CAP_WINDOW_US / US - 0.25)
    assert admit(channel_id, 3) == 0.0  # the first three left the window


@pytest.mark.parametrize("make", ["redis", "local"])
def test_the_cap_counts_a_run_of_sends_in_one_call_up_to_the_room_left(make, redis_limiter, channel_id,
                                                                      clock):
    limiter = redis_limiter if make == "redis" else LocalRateLimiter(clock=clock)
    assert limiter.admit_many(channel_id, 10, 4) == Admission(4, 0.0)
    assert limiter.admit_many(channel_id, 10, 20) == Admission(6, 0.0)  # only the room left
    refused = limiter.admit_many(channel_id, 10, 5)
    assert refused.count == 0  # a run's window is longer by the time its sends may take
    assert refused.wait == pytest.approx(CAP_WINDOW_US / US + ADMIT_AHEAD_SECONDS)
    assert limiter.admit_many(channel_id, 10, 1).count == 0


def test_runs_spent_as_dispatch_spends_them_never_exceed_the_rate_at_the_provider(clock):
    # Three workers take runs of sends for a 100/s channel; each send leaves within
    # ADMIT_AHEAD_SECONDS of its count and reaches the provider up to 50 ms later.
    limiter, rate, rng = LocalRateLimiter(clock=clock), 100, random.Random(11)
    arrivals: list[int] = []
    ready_at = [clock.now] * 3
    while len(arrivals) < 2_000:
        worker = min(range(3), key=ready_at.__getitem__)
        clock.now = ready_at[worker]
        admission = limiter.admit_many(1, rate, admit_batch_size(rate))
        if not admission.count:
            ready_at[worker] = clock.now + admission.wait
            continue
        at = clock.now
        for _ in range(admission.count):  # one after another, each inside the allowance
            at += rng.uniform(0, ADMIT_AHEAD_SECONDS / admission.count)
            arrivals.append(round((at + rng.uniform(0, 0.05)) * US))
        ready_at[worker] = at
    assert admit_batch_size(rate) == 2 and admit_batch_size(50) == 1 and admit_batch_size(100_000) == 2_000
    assert max_in_window(sorted(arrivals), US) <= rate
    assert len(arrivals) / ((max(arrivals) - min(arrivals)) / US) > 0.9 * rate  # the rate is used
