"""The checks of ``queue_messages``, a chunk at a time: who gets what, and who must not.

A fixed number of queries per chunk whatever its size: the conversations, the contacts, the
contacts of raw addresses, the stored idempotency keys and the WhatsApp windows are each read
in one query. Refusal texts are the ones staff have always seen from the single-message paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import connections, router
from django.db.models import Max, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts import blind_index
from accounts.prepared_query import PreparedQuery
from contacts.models import Contact
from messaging.models import Channel, Conversation, Message
from messaging.segments import count_segments
from messaging.selectors import WHATSAPP_WINDOW

if TYPE_CHECKING:
    from messaging.services.queueing import Content, Recipient, RecipientResult

# Twilio refuses SMS bodies over 1,600 characters; WhatsApp text messages stop at 4,096.
MAX_BODY_CHARACTERS = {Channel.Kind.SMS: 1600, Channel.Kind.WHATSAPP: 4096}
_FACT_COLUMNS = ("pk", "phone", "phone_index", "sms_opted_in", "whatsapp_opted_in")


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What the checks need of a contact, read without building model instances (hot path)."""

    pk: int
    phone: str | None
    phone_index: str
    sms_opted_in: bool | None
    whatsapp_opted_in: bool | None


@dataclass(frozen=True, slots=True)
class ChunkContext:
    channel: Channel
    origin: str
    content: Content
    indexer: blind_index.Indexer
    # Rows the caller read a moment ago in this request or transaction: not read again.
    known_conversations: Mapping[int, Conversation] = field(default_factory=dict)
    known_contacts: Mapping[int, Contact] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one recipient gets nothing: a code for programs, a sentence for staff.

    ``quota``: billing's numbers when the plan refused (``QuotaExceeded.as_dict()``), so callers
    can answer with them (the API's 402) or wait for an upgrade (a campaign pauses)."""

    code: str
    message: str
    quota: dict | None = None

    def result(self) -> RecipientResult:
        from messaging.services.queueing import Outcome, RecipientResult

        return RecipientResult(Outcome.REFUSED, reason_code=self.code, reason=self.message, quota=self.quota)


@dataclass(slots=True)
class Resolved:
    """A recipient that passed every check: ready to encrypt and store."""

    contact_id: int | None
    conversation_id: int | None
    address: str
    address_index: str
    body: str
    idempotency_key: str
    segments: int = 0
    encoding: str = ""


def channel_refusal(channel: Channel) -> Refusal | None:
    if not channel.is_active:
        return Refusal("channel_inactive",
                       f"The channel {channel.name} is switched off. An admin can switch it on under "
                       "Channels, or send from another channel.")
    return None


def body_refusal(channel: Channel, body: str) -> Refusal | None:
    if not body:
        return Refusal("empty_body", "The message is empty: write something before sending.")
    limit = MAX_BODY_CHARACTERS.get(channel.kind, 1600)
    if len(body) > limit:
        return Refusal("body_too_long",
                       f"The message is {len(body)} characters long; a {channel.get_kind_display()} "
                       f"message can hold at most {limit}. Shorten it or send it in two parts.")
    return None


INVALID_PHONE = Refusal("invalid_phone", "That is not a valid phone number: write it with its country code, "
                                         "e.g. +14155550123.")
NO_ADDRESS = Refusal("no_address",
                     "This patient has no phone number: add one to their record, then send again.")
UNKNOWN_CONTACT = Refusal("unknown_contact",
                          "That patient is not in this organisation's contacts (deleted?): "
                          "check the recipient list.")
UNKNOWN_CONVERSATION = Refusal("unknown_conversation",
                               "That conversation is not one of this channel's: open the patient's thread "
                               "on the right channel and send from there.")
REPLY_WINDOW_CLOSED = Refusal(
    "window_closed", "WhatsApp only allows free-form replies within 24 hours of the patient's last message. "
                     "Send an approved template instead.")
NUMBER_WINDOW_CLOSED = Refusal(
    "window_closed", "WhatsApp only allows free-form messages within 24 hours of the person's last message: "
                     "ask them to message this number first, or use an approved template.")


_KEY_LENGTH = Message._meta.get_field("idempotency_key").max_length
KEY_TOO_LONG = Refusal("idempotency_key_too_long",
                       f"The idempotency key is longer than {_KEY_LENGTH} characters: use a shorter key "
                       "(e.g. a UUID) for this message.")


def opted_out_refusal(channel: Channel) -> Refusal:
    return Refusal("opted_out",
                   f"This patient opted out of {channel.get_kind_display()} messages (they replied "
                   "STOP). Nothing was sent; they can opt back in by replying START.")


def resolve_chunk(ctx: ChunkContext, chunk: Sequence[Recipient]) -> list:
    """Per recipient: a Resolved, a Refusal, or a duplicate's RecipientResult (same order)."""
    from messaging.services.queueing import Outcome, RecipientResult

    channel = ctx.channel
    addresses = _normalised_addresses(ctx, chunk)
    conversations = _conversations(ctx, chunk)
    contacts = _contacts(ctx, chunk, conversations, addresses)
    stored = _stored_keys(channel, chunk)
    resolved: list = []
    for recipient in chunk:
        if recipient.idempotency_key and recipient.idempotency_key in stored:
            resolved.append(RecipientResult(Outcome.DUPLICATE, stored[recipient.idempotency_key]))
            continue
        resolved.append(_resolve_one(ctx, recipient, conversations, contacts, addresses))
    _refuse_closed_windows(ctx, resolved, conversations)
    return resolved


def _resolve_one(ctx: ChunkContext, recipient: Recipient, conversations: dict, contacts: dict,
                 addresses: dict[str, tuple[str, str] | None]):
    channel = ctx.channel
    if len(recipient.idempotency_key) > _KEY_LENGTH:  # would fail the whole chunk's insert
        return KEY_TOO_LONG
    conversation = None
    if recipient.conversation_id is not None:
        conversation = conversations.get(recipient.conversation_id)
        if conversation is None:
            return UNKNOWN_CONVERSATION
    contact_id = recipient.contact_id if recipient.contact_id is not None else (
        conversation.contact_id if conversation is not None else None)
    if conversation is not None and contact_id != conversation.contact_id:
        return UNKNOWN_CONVERSATION
    contact = contacts.get(contact_id) if contact_id is not None else None
    if contact_id is not None and contact is None:
        return UNKNOWN_CONTACT
    body = _body_of(ctx, recipient, contact)
    refusal = body_refusal(channel, body)
    if refusal is not None:
        return refusal
    if recipient.to_phone:
        normalised = addresses[recipient.to_phone]
        if normalised is None:
            return INVALID_PHONE
        address, index = normalised
        if contact is None:
            contact = contacts.get(("phone", index))
    elif contact is not None and contact.phone:
        address, index = contact.phone, contact.phone_index
    elif conversation is not None:
        found = _last_inbound_address(conversation)
        if found is None:
            return NO_ADDRESS
        address, index = found
    else:
        return NO_ADDRESS if contact is not None else INVALID_PHONE
    if (ctx.origin != Message.Origin.AUTO_REPLY and contact is not None
            and getattr(contact, f"{channel.kind}_opted_in") is False):
        return opted_out_refusal(channel)
    info = count_segments(body)
    return Resolved(contact_id=contact.pk if contact is not None else None,
                    conversation_id=conversation.pk if conversation is not None else None,
                    address=address, address_index=index, body=body,
                    idempotency_key=recipient.idempotency_key, segments=info.segments, encoding=info.encoding)


def _body_of(ctx: ChunkContext, recipient: Recipient, contact: Contact | None) -> str:
    if recipient.body is not None:
        body = recipient.body
    elif ctx.content.render is not None and contact is not None:
        body = ctx.content.render(contact)
    else:
        body = ctx.content.body or ""
    return body.strip()


def _refuse_closed_windows(ctx: ChunkContext, resolved: list, conversations: dict) -> None:
    """WhatsApp free-form messages only within 24 h of the person's last message (one query).

    Templates are what may go outside it; keyword replies answer a message just received.
    """
    if (ctx.channel.kind != Channel.Kind.WHATSAPP or ctx.content.template is not None
            or ctx.origin == Message.Origin.AUTO_REPLY):
        return
    now = timezone.now()
    by_number = [n for n, r in enumerate(resolved) if isinstance(r, Resolved) and r.conversation_id is None]
    last_inbound = {}
    if by_number:
        numbers = {resolved[n].address_index for n in by_number}
        last_inbound = dict(
            Message.objects.filter(_one_of("remote_address_index", numbers, "text"),
                                   channel=ctx.channel, direction=Message.Direction.INBOUND)
            .values("remote_address_index").annotate(last=Max("created_at"))
            .values_list("remote_address_index", "last"))
    for n, item in enumerate(resolved):
        if not isinstance(item, Resolved):
            continue
        if item.conversation_id is not None:
            last = conversations[item.conversation_id].last_inbound_at
            closed = REPLY_WINDOW_CLOSED
        else:
            last = last_inbound.get(item.address_index)
            closed = NUMBER_WINDOW_CLOSED
        if last is None or now - last >= WHATSAPP_WINDOW:
            resolved[n] = closed


# --- one query each ----------------------------------------------------------------------------
def _one_of(field: str, values: set, sql_type: str) -> Q:
    """``field IN values``; on PostgreSQL as one array parameter instead of a thousand placeholders
    (the driver parses every placeholder of a statement on each call)."""
    if connections[router.db_for_read(Message)].vendor == "postgresql":
        # sql_type is one of this module's literals; the values are one bound parameter.
        array = RawSQL(f"SELECT unnest(%s::{sql_type}[])", (list(values),))  # noqa: S611
        return Q(**{f"{field}__in": array})
    return Q(**{f"{field}__in": values})


def _conversations(ctx: ChunkContext, chunk: Sequence[Recipient]) -> dict[int, Conversation]:
    channel = ctx.channel
    ids = {r.conversation_id for r in chunk if r.conversation_id is not None}
    found = {pk: c for pk, c in ctx.known_conversations.items() if pk in ids and c.channel_id == channel.pk
             and c.organization_id == channel.organization_id}
    ids -= set(found)
    if len(ids) == 1:  # a single send (the intake bot's next question): its read compiled once
        rows = _ONE_CONVERSATION.all(conversation_id=next(iter(ids)), organization_id=channel.organization_id,
                                     channel_id=channel.pk)
        found.update((c.pk, c) for c in rows)
    elif ids:
        rows = _conversation_rows(Q(pk__in=ids), channel.organization_id, channel.pk)
        found.update((c.pk, c) for c in rows)
    return found


def _conversation_rows(which: Q, organization_id: int, channel_id: int):
    return (Conversation.objects.filter(which, organization_id=organization_id, channel_id=channel_id)
            .only("pk", "organization_id", "channel_id", "contact_id", "last_inbound_at"))


_ONE_CONVERSATION = PreparedQuery(
    lambda conversation_id, organization_id, channel_id: _conversation_rows(
        Q(pk=conversation_id), organization_id, channel_id),
    "conversation_id", "organization_id", "channel_id")


def _normalised_addresses(ctx: ChunkContext, chunk: Sequence[Recipient]) -> dict[str, tuple[str, str] | None]:
    """Each raw address of the chunk as (E.164, blind index), or None when it is not a valid number."""
    found: dict[str, tuple[str, str] | None] = {}
    if not any(r.to_phone for r in chunk):  # replies and campaigns: the organisation is not read
        return found
    region = ctx.channel.organization.default_region
    for recipient in chunk:
        raw = recipient.to_phone
        if raw and raw not in found:
            try:
                e164 = blind_index.normalize_phone(raw, region)
            except blind_index.InvalidPhoneNumber:
                found[raw] = None
            else:
                found[raw] = (e164, ctx.indexer.phone(e164))
    return found


def _contacts(ctx: ChunkContext, chunk: Sequence[Recipient], conversations: dict,
              addresses: dict[str, tuple[str, str] | None]) -> dict:
    """Contacts by id, and by ("phone", index) for raw addresses (the oldest, as everywhere)."""
    organization_id = ctx.channel.organization_id
    ids = {r.contact_id for r in chunk if r.contact_id is not None}
    ids |= {c.contact_id for c in conversations.values()}
    found: dict = {}
    lazy = ctx.content.render is not None  # a renderer may read any field: load whole contacts
    for contact in ctx.known_contacts.values():
        if contact.pk in ids and contact.organization_id == organization_id:
            found[contact.pk] = contact if lazy else ContactFacts(
                contact.pk, contact.phone, contact.phone_index, contact.sms_opted_in,
                contact.whatsapp_opted_in)
            ids.discard(contact.pk)
    indexes = {addresses[r.to_phone][1] for r in chunk
               if r.to_phone and r.contact_id is None and addresses[r.to_phone] is not None}
    if ids:
        rows = Contact.objects.filter(_one_of("pk", ids, "bigint"), organization_id=organization_id)
        if lazy:
            found.update((contact.pk, contact) for contact in rows)
        else:
            found.update((values[0], ContactFacts(*values)) for values in rows.values_list(*_FACT_COLUMNS))
    if indexes:
        rows = (Contact.objects.filter(_one_of("phone_index", indexes, "text"),
                                       organization_id=organization_id)
                .order_by("-pk").values_list(*_FACT_COLUMNS))
        for values in rows:  # newest first, so the oldest of a shared phone is kept
            found[("phone", values[2])] = ContactFacts(*values)
    return found


def _stored_keys(channel: Channel, chunk: Sequence[Recipient]) -> dict[str, int]:
    keys = {r.idempotency_key for r in chunk if r.idempotency_key}
    if not keys:
        return {}
    # The exclude() repeats the unique index's predicate: without it the planner cannot use that
    # partial index and scans every message of the channel for each chunk.
    return dict(Message.objects.filter(_one_of("idempotency_key", keys, "text"), channel=channel)
                .exclude(idempotency_key="").values_list("idempotency_key", "pk"))


def _last_inbound_address(conversation: Conversation) -> tuple[str, str] | None:
    """The address the contact's last message came from (a contact without a phone; rare)."""
    last = (Message.objects.filter(conversation_id=conversation.pk, direction=Message.Direction.INBOUND)
            .exclude(remote_address_index="").order_by("-created_at").only("remote_address",
                                                                           "remote_address_index").first())
    if last is None or not last.remote_address:
        return None
    return last.remote_address, last.remote_address_index
