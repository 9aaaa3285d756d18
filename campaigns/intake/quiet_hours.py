"""Quiet hours for the bot's own nudges (reminders, expiry notices): the organisation's sending
window (campaigns.quiet_hours, 08:00-21:00 unless the organisation set its own), evaluated in
the patient's time zone, else the organisation's — the same rule campaign messages follow."""

from __future__ import annotations

import datetime

from django.utils import timezone

from campaigns import quiet_hours


def _window(organization) -> quiet_hours.Window:
    from campaigns.models import CampaignSettings

    settings_row = CampaignSettings.objects.filter(organization_id=organization.pk).first()
    return settings_row.window if settings_row is not None else quiet_hours.DEFAULT_WINDOW


def in_quiet_hours(contact, organization, now: datetime.datetime | None = None) -> bool:
    """Whether it is night for this patient now (so a reminder waits for the morning)."""
    zone = quiet_hours.zone(getattr(contact, "timezone", ""), getattr(organization, "timezone", "") or "UTC")
    local = (now or timezone.now()).astimezone(zone)
    return not _window(organization).contains(local.time())
