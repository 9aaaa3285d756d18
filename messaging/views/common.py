"""Presentation helpers shared by the messaging pages and their JSON polling endpoints.

One function turns a message into what staff see (text, badge, error), so a row rendered by
the template and a row appended by inbox-live.js look and read the same.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from contacts.selectors import is_opted_out as contact_is_opted_out
from messaging.models import Conversation, Message
from messaging.selectors import contact_label

# Bootstrap badge classes per delivery status: grey while in flight, green delivered,
# blue read, red/orange for the two failure exits.
STATUS_BADGES = {
    Message.Status.QUEUED: "text-bg-secondary",
    Message.Status.SENDING: "text-bg-secondary",
    Message.Status.SENT: "text-bg-info",
    Message.Status.DELIVERED: "text-bg-success",
    Message.Status.READ: "text-bg-primary",
    Message.Status.FAILED: "text-bg-danger",
    Message.Status.UNDELIVERED: "text-bg-warning",
    Message.Status.RECEIVED: "text-bg-light",
    Message.Status.UNKNOWN: "text-bg-warning",  # an interrupted send staff must check (dispatch.py)
}
FAILURE_STATUSES = {Message.Status.FAILED, Message.Status.UNDELIVERED}


def initial_of(label: str) -> str:
    """The avatar letter: the name's first letter, or "#" for a bare phone number."""
    first = label[:1]
    return first.upper() if first.isalpha() else "#"


def message_sender(message: Message) -> str:
    """Who wrote an outbound message, as staff want to read it."""
    if message.direction == Message.Direction.INBOUND:
        return ""
    if message.sent_by_id and message.sent_by is not None:
        return message.sent_by.display_name
    return message.get_origin_display()


def message_error(message: Message) -> str:
    """The provider's failure reason for staff ("30007: carrier filtered"), or ""."""
    if message.status not in FAILURE_STATUSES and not message.error_code:
        return ""
    parts = [part for part in (message.error_code, message.error_message) if part]
    return " — ".join(parts) or "The provider gave no reason."


def local_time(value) -> str:
    """A timestamp in the server's time zone, short form (e.g. "Mar 4, 14:05")."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value), "M j, H:i")


def message_row(message: Message) -> dict[str, Any]:
    """What a thread (or the simulator's phone) shows of one message. Plain text: the
    browser inserts it with textContent, so nothing here is HTML-escaped."""
    body = message.body or ""
    if not body and message.template_name:
        body = f"[Template {message.template_name}]"
    return {
        "id": message.pk,
        "direction": message.direction,
        "body": body,
        "template": message.template_name,
        "sender": message_sender(message),
        "origin": message.origin,
        "origin_label": message.get_origin_display(),
        "status": message.status,
        "status_label": message.get_status_display(),
        "status_class": STATUS_BADGES.get(message.status, "text-bg-secondary"),
        "error": message_error(message),
        "time": local_time(message.created_at),
        "timestamp": message.created_at.isoformat() if message.created_at else "",
    }


STATUS_FIELDS = ("id", "direction", "status", "error_code", "error_message")


def status_row(message: Message) -> dict[str, Any]:
    """A badge update for an outbound message already on screen (no body: nothing to decrypt)."""
    return {
        "id": message.pk,
        "status": message.status,
        "status_label": message.get_status_display(),
        "status_class": STATUS_BADGES.get(message.status, "text-bg-secondary"),
        "error": message_error(message),
    }


def recent_statuses(messages: QuerySet[Message], window: int = 50) -> list[dict[str, Any]]:
    """Statuses of the latest ``window`` outbound messages of a thread or phone.

    Re-sent on every poll so badges follow receipts (sent → delivered → read, or a late
    failure); only status columns are loaded, so no message body is decrypted for it.
    """
    latest = (messages.filter(direction=Message.Direction.OUTBOUND).select_related(None)
              .order_by("-pk").only(*STATUS_FIELDS))
    return [status_row(message) for message in latest[:window]]


def conversation_row(conversation: Conversation) -> dict[str, Any]:
    """What the inbox list shows of one conversation."""
    return {
        "id": conversation.pk,
        "contact": contact_label(conversation.contact),
        "initial": initial_of(contact_label(conversation.contact)),
        "channel": conversation.channel.name,
        "channel_kind": conversation.channel.get_kind_display(),
        "status": conversation.status,
        "unread": conversation.unread_count,
        "assignee": conversation.assigned_to.display_name if conversation.assigned_to_id else "",
        "last_message": local_time(conversation.last_message_at),
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else "",
    }


def is_opted_out(conversation: Conversation) -> bool:
    """The contact said STOP on this channel's kind (SMS or WhatsApp): sends will be refused."""
    return contact_is_opted_out(conversation.contact, conversation.channel.kind)
