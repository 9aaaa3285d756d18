"""When a campaign message may reach a patient: a daily sending window in their own time zone.

Pure functions over explicit datetimes (tests pass the clock in; nothing reads it here).
A window is the part of the day sends are allowed, e.g. 08:00-21:00 (the default); one
that ends before it starts (20:00-02:00) runs past midnight. A recipient outside it is
deferred to the next opening, never dropped.

Daylight-saving changes: the opening is a wall-clock time. On a spring-forward day an
opening inside the skipped hour becomes the first instant after the gap; on a fall-back day
an opening inside the repeated hour is its first occurrence (fold=0) — in neither case is a
message sent at a local time outside the window.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_START = datetime.time(8, 0)
DEFAULT_END = datetime.time(21, 0)


@dataclass(frozen=True)
class Window:
    """The allowed sending hours, local wall-clock times; ``start == end`` is refused."""

    start: datetime.time = DEFAULT_START
    end: datetime.time = DEFAULT_END

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("The sending window must start and end at different times.")

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains(self, local_time: datetime.time) -> bool:
        """Whether a local wall-clock time is inside the window (start inclusive, end exclusive)."""
        if self.crosses_midnight:
            return local_time >= self.start or local_time < self.end
        return self.start <= local_time < self.end


DEFAULT_WINDOW = Window()


def window_or(start: datetime.time | None, end: datetime.time | None, fallback: Window) -> Window:
    """The window ``start`` to ``end`` where both are set (a campaign's own), else ``fallback``."""
    return Window(start, end) if start is not None and end is not None else fallback


@lru_cache(maxsize=1024)
def zone(name: str | None, fallback: str = "UTC") -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``; ``fallback`` when it is blank or unknown (bad imported data)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return zoneinfo.ZoneInfo(candidate)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def next_send_time(now: datetime.datetime, tz: zoneinfo.ZoneInfo | str,
                   window: Window = DEFAULT_WINDOW) -> datetime.datetime:
    """``now`` if it is inside ``window`` in ``tz``; otherwise the next opening, in UTC.

    ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("next_send_time needs an aware datetime (use django.utils.timezone.now()).")
    tz = zone(tz) if isinstance(tz, str) else tz
    local = now.astimezone(tz)
    if window.contains(local.time()):
        return now
    # Outside the window: before today's opening, or after today's end (then tomorrow's opening).
    opening_day = local.date() if local.time() < window.start else local.date() + datetime.timedelta(days=1)
    opening = _wall_clock(opening_day, window.start, tz)
    if opening <= now:  # the opening fell into a DST gap already behind us
        opening = _wall_clock(opening_day + datetime.timedelta(days=1), window.start, tz)
    return opening.astimezone(datetime.UTC)


def _wall_clock(day: datetime.date, at: datetime.time, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The instant the clocks in ``tz`` show ``day at``; past the gap when they skip it."""
    candidate = datetime.datetime.combine(day, at, tzinfo=tz)
    # Round-trip through UTC: a skipped wall-clock time normalises to the real instant, which
    # (fold=0, the pre-transition offset) lies after the gap.
    real = candidate.astimezone(datetime.UTC).astimezone(tz)
    if real.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return real
    return candidate
