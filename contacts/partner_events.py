"""Contacts' events for partner webhooks (accounts.event_webhooks)."""

from __future__ import annotations

from accounts.event_webhooks.events import emit, register_event_type

CONTACT_OPTED_OUT = register_event_type(
    "contact.opted_out", "A patient opted out of a channel (replied STOP, or staff recorded it).",
    phi_keys={"phone"})


def announce_opted_out(contact, channel_kind: str, source: str) -> int:
    """``contact.opted_out``: which contact, on which kind of channel, and why."""
    return emit(organization_id=contact.organization_id, event_type=CONTACT_OPTED_OUT.name, data={
        "contact_id": contact.pk, "channel": channel_kind, "source": source, "phone": contact.phone or "",
    })
