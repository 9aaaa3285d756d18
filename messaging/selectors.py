"""Every read of messaging that shows PHI, and the audit events those reads record.

Each selector takes the ``actor`` (accounts.Actor), checks its permission and organisation,
and records what staff were shown:

- a thread (``get_conversation``): CONVERSATION_VIEWED once per browser session and thread —
  the thread page, its refusals re-rendered and its live polling all read through it;
- the inbox list (``inbox_conversations``): one INBOX_LISTED per page (filter kind and count,
  never names); its live polling records once per session and filter;
- the simulator's phone (``simulator_phone_messages``): SIMULATOR_VIEWED once per session and
  phone, and its number suggestions (``simulator_suggestions``) one event per page.

Another organisation's id answers 404, exactly like a missing one; another organisation's
row handed in raises ``WrongOrganization`` (403).
"""

from __future__ import annotations

import datetime
from collections.abc import MutableMapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.prepared_query import PreparedQuery
from accounts.roles import Perm
from audit import AuditAction
from contacts.models import Contact
from messaging.models import Channel, Conversation, Message, WhatsAppTemplate
from messaging.providers import keys_playing_patient_in_browser

# WhatsApp's customer-service window: free-form messages only this long after the user's last one.
WHATSAPP_WINDOW = datetime.timedelta(hours=24)
INBOX_VIEWS = ("mine", "unassigned", "all", "closed")


def require_actor(actor: Actor | None, perm: Perm, organization=None) -> Actor:
    """``actor.require(perm, organization)``, refusing a missing actor (signed out, no membership)."""
    if actor is None:
        raise PermissionDenied("Sign in to an organisation first.")
    actor.require(perm, organization)
    return actor


class SeenViews:
    """Which PHI views this browser session has already recorded in the audit log.

    Kept in the server-side session as short keys (``conversation:12``), never PHI. A page
    reloaded or polled again in the same session adds no event; a new session records again.
    """

    SESSION_KEY = "messaging.audited_views"
    LIMIT = 500  # the oldest keys fall off: a very long session records an old thread again

    def __init__(self, session: MutableMapping) -> None:
        self._session = session

    def first_time(self, key: str) -> bool:
        """Note ``key`` as seen; True if it was not seen before in this session."""
        seen = list(self._session.get(self.SESSION_KEY) or [])
        if key in seen:
            return False
        self._session[self.SESSION_KEY] = [*seen, key][-self.LIMIT:]
        return True


def _first_time(seen: SeenViews | None, key: str) -> bool:
    return True if seen is None else seen.first_time(key)


def contact_label(contact: Contact | None) -> str:
    """A contact's name for staff (decrypted PHI), falling back to the number, then the id."""
    if contact is None:
        return "Unknown sender"
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return name or contact.phone or f"Contact #{contact.pk}"


# --- the inbox list -----------------------------------------------------------------------------
def inbox_conversations(*, actor: Actor, view: str, seen: SeenViews | None = None,
                        polling: bool = False) -> list[Conversation]:
    """Conversations for one inbox tab, newest activity first, with contact and assignee joined.

    ``view``: "mine" (open, assigned to the actor), "unassigned" (open, nobody), "all" (open),
    "closed". Records INBOX_LISTED (the filter and the count, never names): on every page
    load, and from live polling (``polling=True``) only the first time in the session.
    """
    require_actor(actor, Perm.INBOX_VIEW)
    if view not in INBOX_VIEWS:
        raise ValueError(f"Unknown inbox view {view!r}; use one of {', '.join(INBOX_VIEWS)}.")
    qs = Conversation.objects.filter(organization_id=actor.organization_id)
    if view == "closed":
        qs = qs.filter(status=Conversation.Status.CLOSED)
    else:
        qs = qs.filter(status=Conversation.Status.OPEN)
    if view == "mine":
        qs = qs.filter(assigned_to_id=actor.user_id) if actor.user_id else qs.none()
    elif view == "unassigned":
        qs = qs.filter(assigned_to__isnull=True)
    rows = list(qs.select_related("contact", "assigned_to", "channel")
                .order_by(F("last_message_at").desc(nulls_last=True), "-pk"))
    # Keyed by organisation too: a session that switches organisation lists another inbox.
    first = _first_time(seen, f"inbox:{actor.organization_id}:{view}")
    if first or not polling:
        audit.record(AuditAction.INBOX_LISTED, organization=actor.organization_id, actor=actor,
                     detail={"view": view, "count": len(rows), "polling": polling})
    return rows


def unread_total(*, actor: Actor | None) -> int:
    """Unread inbound messages across the organisation's open conversations (0 without inbox
    access). A count, not PHI: not audited."""
    if actor is None or not actor.can(Perm.INBOX_VIEW):
        return 0
    total = (Conversation.objects.filter(organization_id=actor.organization_id,
                                         status=Conversation.Status.OPEN)
             .aggregate(total=Sum("unread_count"))["total"])
    return int(total or 0)


# --- one thread ---------------------------------------------------------------------------------
_THREAD_RELATED = ("contact", "channel", "assigned_to", "organization")


def _conversation(actor: Actor, conversation_id: int | str) -> Conversation:
    try:
        return (Conversation.objects.select_related(*_THREAD_RELATED)
                .get(pk=int(conversation_id), organization_id=actor.organization_id))
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such conversation.") from None


def get_conversation(*, conversation_id: int | str, actor: Actor,
                     seen: SeenViews | None = None) -> Conversation:
    """One conversation of the actor's organisation for the thread page or its polling.

    Audited as CONVERSATION_VIEWED once per session and thread (``seen``); without ``seen``
    (a door with no session) every call records.
    """
    require_actor(actor, Perm.INBOX_VIEW)
    conversation = _conversation(actor, conversation_id)
    if _first_time(seen, f"conversation:{conversation.pk}"):
        audit.record(AuditAction.CONVERSATION_VIEWED, target=conversation, actor=actor)
    return conversation


def conversation_for_action(*, conversation_id: int | str, actor: Actor, perm: Perm) -> Conversation:
    """The conversation a write acts on (reply, assign, close…), checked for ``perm``.

    Not audited as a view: the action shows nothing; its service records what it did. With
    its patient and channel (what a send checks); anything else loads when read.
    """
    require_actor(actor, perm)
    try:
        conversation = _ACTION_CONVERSATION.first(conversation_id=int(conversation_id),
                                                  organization_id=actor.organization_id)
    except (ValueError, TypeError, OverflowError):
        conversation = None
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


# Every reply reads this join: its SQL compiled once per process (accounts/prepared_query.py).
_ACTION_CONVERSATION = PreparedQuery(
    lambda conversation_id, organization_id: Conversation.objects.select_related("contact", "channel")
    .filter(pk=conversation_id, organization_id=organization_id)[:1],
    "conversation_id", "organization_id")


def thread_messages(*, actor: Actor, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages, oldest first (bodies decrypt on load). Part of the thread
    view ``get_conversation`` recorded."""
    require_actor(actor, Perm.INBOX_VIEW, conversation)
    return conversation.messages.select_related("sent_by").order_by("created_at", "pk")


def messages_since(*, actor: Actor, conversation: Conversation, after_id: int) -> QuerySet[Message]:
    """Messages newer than ``after_id`` (live polling of a thread ``get_conversation`` recorded)."""
    return thread_messages(actor=actor, conversation=conversation).filter(pk__gt=int(after_id))


def window_closes_at(conversation: Conversation) -> datetime.datetime | None:
    """When WhatsApp's 24-hour window closes (None: not WhatsApp, or the patient never wrote).
    A computation on a conversation already read, not a read."""
    if conversation.channel.kind != Channel.Kind.WHATSAPP or conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + WHATSAPP_WINDOW


def window_open(conversation: Conversation) -> bool:
    """Whether a free-form message may be sent now (always true for SMS)."""
    if conversation.channel.kind != Channel.Kind.WHATSAPP:
        return True
    closes = window_closes_at(conversation)
    return closes is not None and timezone.now() < closes


# --- channels as choices -------------------------------------------------------------------------
def whatsapp_channels(*, actor: Actor) -> QuerySet[Channel]:
    """The organisation's WhatsApp channels as choices (the template form): names and addresses
    only — credentials are deferred, so no secret is decrypted to fill a list."""
    require_actor(actor, Perm.CHANNELS_MANAGE)
    return (Channel.objects.filter(organization_id=actor.organization_id, kind=Channel.Kind.WHATSAPP)
            .defer("credentials", "webhook_secret").order_by("name", "pk"))


def active_channel_choices(*, actor: Actor, perm: Perm = Perm.MESSAGES_SEND) -> QuerySet[Channel]:
    """The organisation's switched-on channels as choices (intake's start and poster forms):
    names and addresses only, credentials deferred."""
    require_actor(actor, perm)
    return (Channel.objects.filter(organization_id=actor.organization_id, is_active=True)
            .defer("credentials", "webhook_secret").order_by("name", "pk"))


def partner_channels(*, actor: Actor) -> QuerySet[Channel]:
    """The organisation's channels for the partner API: no credentials or secrets are loaded."""
    require_actor(actor, Perm.INBOX_VIEW)
    return (Channel.objects.filter(organization_id=actor.organization_id)
            .defer("credentials", "webhook_secret").order_by("pk"))


# --- the simulator ------------------------------------------------------------------------------
def simulator_channels(*, actor: Actor) -> list[Channel]:
    """The organisation's active simulator channels (the phone's line choices)."""
    require_actor(actor, Perm.SIMULATOR_USE)
    return list(Channel.objects.filter(organization_id=actor.organization_id,
                                       provider__in=keys_playing_patient_in_browser(), is_active=True))


def simulator_channel(*, actor: Actor, channel_id) -> Channel | None:
    """One active simulator channel of the organisation, or None (another org's id included)."""
    require_actor(actor, Perm.SIMULATOR_USE)
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError):
        return None
    return Channel.objects.filter(pk=channel_id, organization_id=actor.organization_id,
                                  provider__in=keys_playing_patient_in_browser(), is_active=True).first()


def simulator_contact(*, actor: Actor, contact_id) -> Contact | None:
    """The contact whose phone the simulator plays (by id, from the session), or None.

    Not audited here: what the page shows of it is recorded by ``simulator_phone_messages``.
    """
    require_actor(actor, Perm.SIMULATOR_USE)
    try:
        contact_id = int(contact_id)
    except (TypeError, ValueError):
        return None
    return (Contact.objects.filter(pk=contact_id, organization_id=actor.organization_id)
            .exclude(phone_index="").first())


def simulator_contact_for_phone(*, actor: Actor, e164: str) -> Contact | None:
    """The organisation's contact with this (normalised) number, through the blind index."""
    from accounts import blind_index

    require_actor(actor, Perm.SIMULATOR_USE)
    index = blind_index.phone_index(actor.organization_id, e164)
    return (Contact.objects.filter(organization_id=actor.organization_id, phone_index=index)
            .order_by("pk").first())


@dataclass(frozen=True)
class Suggestion:
    """A number the simulator offers in its phone field."""

    phone: str
    label: str


def simulator_suggestions(*, actor: Actor, limit: int = 25) -> list[Suggestion]:
    """The organisation's first contacts with a phone, offered as numbers to play.

    Names and numbers on screen: one SIMULATOR_SUGGESTIONS_LISTED event per page (the count).
    """
    require_actor(actor, Perm.SIMULATOR_USE)
    contacts = (Contact.objects.filter(organization_id=actor.organization_id).exclude(phone_index="")
                .only("pk", "organization_id", "first_name", "last_name", "phone")
                .order_by("created_at", "pk")[:limit])
    suggestions = [Suggestion(phone=c.phone, label=contact_label(c)) for c in contacts if c.phone]
    audit.record(AuditAction.SIMULATOR_SUGGESTIONS_LISTED, organization=actor.organization_id,
                 actor=actor, detail={"count": len(suggestions)})
    return suggestions


def simulator_phone_messages(*, actor: Actor, channel: Channel, contact: Contact,
                             seen: SeenViews | None = None) -> QuerySet[Message]:
    """Messages to and from ``contact``'s number on a simulator channel, oldest first.

    Found by the number's blind index, so messages sent before the contact existed (a test
    message, a sign-in code) show too. SIMULATOR_VIEWED once per session and phone; the
    number stays out of the event (the contact id names it).
    """
    require_actor(actor, Perm.SIMULATOR_USE, channel)
    actor.require_same_organization(contact)
    if not channel.declaration.plays_patient_in_browser:
        raise ValueError("The simulator shows channels that play the patient in the browser only.")
    messages = (Message.objects.filter(channel=channel, remote_address_index=contact.phone_index)
                .order_by("created_at", "pk"))
    if _first_time(seen, f"simulator:{channel.pk}:{contact.pk}"):
        audit.record(AuditAction.SIMULATOR_VIEWED, target=channel, actor=actor,
                     detail={"contact_id": contact.pk, "messages": messages.count()})
    return messages


def sendable_template(*, actor: Actor, template_id: int) -> WhatsAppTemplate:
    """One of the organisation's WhatsApp templates for a send (no PHI); another organisation's
    id answers 404 like a missing one. Whether it suits the conversation's channel is the send
    path's check (it says why when it does not)."""
    require_actor(actor, Perm.MESSAGES_SEND)
    template = (WhatsAppTemplate.objects.filter(organization_id=actor.organization_id, pk=template_id)
                .select_related("channel").first())
    if template is None:
        raise Http404("No such WhatsApp template in your organisation.")
    return template


# --- channel set-up (channel managers) -----------------------------------------------------------
def setup_channels(*, actor: Actor) -> QuerySet[Channel]:
    """The organisation's channels for the Channels pages and the admin (credentials stay
    encrypted until a page needs one, which only the set-up form's write-only fields do)."""
    require_actor(actor, Perm.CHANNELS_MANAGE)
    return Channel.objects.filter(organization_id=actor.organization_id).order_by("name", "pk")


def setup_channel(*, actor: Actor, channel_id) -> Channel:
    """One channel of the organisation to set up; another organisation's id is a 404."""
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError):
        raise Http404("No such channel in your organisation.") from None
    channel = setup_channels(actor=actor).filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel in your organisation.")
    return channel
