"""Quiet hours for the bot's own nudges (reminders, expiry notices), in the patient's time zone.

A small local rule until campaigns' quiet-hours function is shared: 21:00-08:00 by default
(INTAKE_QUIET_HOURS), the contact's time zone first, else the organisation's.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone


def _zone(contact, organization) -> ZoneInfo:
    for name in (getattr(contact, "timezone", ""), getattr(organization, "timezone", ""), "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def in_quiet_hours(contact, organization, now: datetime.datetime | None = None) -> bool:
    """Whether it is night for this patient now (so a reminder waits for the morning)."""
    start, end = getattr(settings, "INTAKE_QUIET_HOURS", (21, 8))
    local = (now or timezone.now()).astimezone(_zone(contact, organization))
    hour = local.hour
    if start == end:
        return False
    return hour >= start or hour < end if start > end else start <= hour < end
