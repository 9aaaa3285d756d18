"""Messaging's events for partner webhooks (accounts.event_webhooks): registered once here,
announced by the services that change the message, inside their transaction."""

from __future__ import annotations

from accounts.event_webhooks.events import emit, has_subscriber, register_event_type

MESSAGE_RECEIVED = register_event_type(
    "message.received", "A patient's message arrived (SMS or WhatsApp).", phi_keys={"from", "body"})
MESSAGE_STATUS = register_event_type(
    "message.status", "An outbound message was sent, delivered, read or failed.", phi_keys={"to"})


def announce_received(message) -> int:
    """``message.received`` for an inbound message (once per message, however often called)."""
    return emit(organization_id=message.organization_id, event_type=MESSAGE_RECEIVED.name,
                key=str(message.pk), data={
        "message_id": message.pk, "conversation_id": message.conversation_id,
        "contact_id": message.contact_id, "channel_id": message.channel_id,
        "received_at": message.created_at.isoformat(), "from": message.remote_address or "",
        "body": message.body or "",
    })


def announce_status(message) -> int:
    """``message.status`` for an outbound message whose status changed (once per status)."""
    return emit(organization_id=message.organization_id, event_type=MESSAGE_STATUS.name,
                key=f"{message.pk}:{message.status}", data={
        "message_id": message.pk, "conversation_id": message.conversation_id,
        "contact_id": message.contact_id, "channel_id": message.channel_id, "status": message.status,
        "error_code": message.error_code or None, "to": message.remote_address or "",
    })


def announce_inbound_event(event) -> None:
    """Inbound hook handler (messaging.inbound): runs in the inbound task, off the webhook's hot
    path, and announces the stored message to partner endpoints."""
    from messaging.models import Message

    message = (Message.objects.filter(pk=event.message_id, organization_id=event.organization_id)
               .order_by("pk").first())  # a pk lookup, not a sort by created_at (see dispatch.py)
    if message is not None:
        announce_received(message)


def wants_inbound_events(organization_id: int) -> bool:
    """The inbound hook's interest: only organisations with an endpoint for message.received."""
    return has_subscriber(organization_id, MESSAGE_RECEIVED.name)

