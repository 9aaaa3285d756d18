"""The send-time cap as a worker spends it (``messaging.ratelimit`` counts; this decides how
many to count at once and how long to wait in-process).

Every send passes the cap right before its provider call, so the provider never sees more than
the channel's rate in any second however late tasks run. A batch takes a run of sends in one
limiter call (``SendAllowance``); a single message takes one (``admit``).
"""

from __future__ import annotations

import time

from messaging.ratelimit import ADMIT_AHEAD_SECONDS, admit_batch_size, get_rate_limiter

# The longest a worker waits in-process for the send-time cap (longer: the task is rescheduled).
ADMIT_WAIT_SECONDS = 1.5


def admit(channel) -> float:
    """Pass the channel's send-time cap (ratelimit.admit_many: never more than its rate in any second
    at the provider, however late tasks run); 0.0 once counted, else seconds to reschedule by."""
    return SendAllowance(channel).take(1)


class SendAllowance:
    """Sends the cap has counted for this worker and not yet made: a batch takes a run of them in
    one limiter call and spends each within ADMIT_AHEAD_SECONDS of the count (later, the rest
    are dropped unspent: counted but not sent, which only ever lowers the rate)."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.left = 0
        self.counted_at = 0.0
        self.started_at: float | None = None
        self.taken = 0

    def take(self, wanted: int) -> float:
        """0.0 when one send may go now (up to ``wanted`` with it are counted), else seconds to
        reschedule by."""
        now = time.monotonic()
        if self.left > 0 and now - self.counted_at <= ADMIT_AHEAD_SECONDS:
            self.left -= 1
            self.taken += 1
            return 0.0
        limiter, rate = get_rate_limiter(), self.channel.rate_limit_per_second
        batch = min(max(1, wanted), admit_batch_size(rate), self._sends_in_time(now))
        waited = 0.0
        while True:
            admission = limiter.admit_many(self.channel.pk, rate, batch)
            if admission.count:
                self.left, self.counted_at = admission.count - 1, time.monotonic()
                self.taken += 1
                if self.started_at is None:
                    self.started_at = self.counted_at
                return 0.0
            if waited + admission.wait > ADMIT_WAIT_SECONDS:
                return admission.wait
            time.sleep(admission.wait)  # a fraction of a second: cheaper than a round trip through the broker
            waited += admission.wait

    def _sends_in_time(self, now: float) -> int:
        """How many sends this worker has been making in ADMIT_AHEAD_SECONDS (one to start with):
        counting more than it can make would waste the channel's rate."""
        if self.started_at is None or self.taken < 1 or now <= self.started_at:
            return 1
        return max(1, int(ADMIT_AHEAD_SECONDS * self.taken / (now - self.started_at)))
