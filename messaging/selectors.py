"""Reads of conversations and messages for the inbox and the simulator.

Opening a thread (``get_conversation``) records CONVERSATION_VIEWED; the inbox list shows
no message bodies, and live polling (``messages_since``) continues an already audited view.
Another organisation's conversation id answers 404, exactly like a missing one.
"""

from __future__ import annotations

import datetime

from django.db.models import F, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

import audit
from accounts import blind_index
from accounts.roles import Perm, require_member, role_has
from audit import AuditAction
from messaging.models import Channel, Conversation, Message

# WhatsApp's customer-service window: free-form messages only this long after the user's last one.
WHATSAPP_WINDOW = datetime.timedelta(hours=24)
INBOX_VIEWS = ("mine", "unassigned", "all", "closed")


def inbox_conversations(*, organization, user, view: str) -> QuerySet[Conversation]:
    """Conversations for one inbox tab, newest activity first, with contact and assignee joined.

    ``view``: "mine" (open, assigned to ``user``), "unassigned" (open, nobody), "all" (open),
    "closed".
    """
    require_member(user, organization, Perm.INBOX_VIEW)
    if view not in INBOX_VIEWS:
        raise ValueError(f"Unknown inbox view {view!r}; use one of {', '.join(INBOX_VIEWS)}.")
    qs = Conversation.objects.filter(organization=organization)
    if view == "closed":
        qs = qs.filter(status=Conversation.Status.CLOSED)
    else:
        qs = qs.filter(status=Conversation.Status.OPEN)
    if view == "mine":
        qs = qs.filter(assigned_to=user)
    elif view == "unassigned":
        qs = qs.filter(assigned_to__isnull=True)
    return (qs.select_related("contact", "assigned_to", "channel")
            .order_by(F("last_message_at").desc(nulls_last=True), "-pk"))


def unread_total(*, organization, user) -> int:
    """Unread inbound messages across the organisation's open conversations (0 without inbox access)."""
    from accounts.models import Membership

    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None or not role_has(membership.role, Perm.INBOX_VIEW):
        return 0
    total = (Conversation.objects.filter(organization=organization, status=Conversation.Status.OPEN)
             .aggregate(total=Sum("unread_count"))["total"])
    return int(total or 0)


def get_conversation(*, conversation_id: int | str, actor) -> Conversation:
    """One conversation of the current organisation for the thread view; audited as viewed."""
    try:
        conversation = (Conversation.objects.select_related("contact", "channel", "assigned_to",
                                                            "organization")
                        .get(pk=int(conversation_id)))
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such conversation.") from None
    require_member(actor, conversation.organization, Perm.INBOX_VIEW)
    audit.record(AuditAction.CONVERSATION_VIEWED, target=conversation, actor=actor)
    return conversation


def thread_messages(conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages, oldest first (bodies decrypt on load)."""
    return conversation.messages.select_related("sent_by").order_by("created_at", "pk")


def messages_since(*, conversation: Conversation, after_id: int) -> QuerySet[Message]:
    """Messages newer than ``after_id`` (live polling of an open thread)."""
    return thread_messages(conversation).filter(pk__gt=int(after_id))


def window_closes_at(conversation: Conversation) -> datetime.datetime | None:
    """When WhatsApp's 24-hour window closes (None: not WhatsApp, or the patient never wrote)."""
    if conversation.channel.kind != Channel.Kind.WHATSAPP or conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + WHATSAPP_WINDOW


def window_open(conversation: Conversation) -> bool:
    """Whether a free-form message may be sent now (always true for SMS)."""
    if conversation.channel.kind != Channel.Kind.WHATSAPP:
        return True
    closes = window_closes_at(conversation)
    return closes is not None and timezone.now() < closes


def simulator_messages(*, channel: Channel, phone: str) -> QuerySet[Message]:
    """Messages to and from ``phone`` on a simulator channel, oldest first (via the blind index)."""
    if not channel.declaration.plays_patient_in_browser:
        raise ValueError("The simulator shows simulator channels only.")
    e164 = blind_index.normalize_phone(phone, channel.organization.default_region)
    index = blind_index.phone_index(channel.organization_id, e164)
    return Message.objects.filter(channel=channel, remote_address_index=index).order_by("created_at", "pk")
