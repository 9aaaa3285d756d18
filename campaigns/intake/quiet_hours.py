"""Quiet hours for the bot's own nudges (reminders, expiry notices): the organisation's sending
window (campaigns.quiet_hours, 08:00-21:00 unless the organisation set its own), evaluated in
the patient's time zone, else the organisation's — the same rule campaign messages follow."""

from __future__ import annotations

import datetime

from django.utils import timezone

from campaigns import quiet_hours


def in_quiet_hours(contact, organization, now: datetime.datetime | None = None) -> bool:
    """Whether it is night for this patient now (so a reminder waits for the morning)."""
    zone = quiet_hours.zone(getattr(contact, "timezone", ""), getattr(organization, "timezone", "") or "UTC")
    local = (now or timezone.now()).astimezone(zone)
    from campaigns.models import CampaignSettings

    return not CampaignSettings.window_of(organization.pk).contains(local.time())
