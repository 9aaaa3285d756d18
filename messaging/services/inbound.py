"""Receiving a patient's message: dedupe, contact, keywords/consent, conversation, storage.

Runs synchronously inside the webhook request, in one transaction: every step is a few
indexed queries, and the provider must know the message is safely stored before we answer
200 (after that it will not retry). What can be slow — inbound handlers (campaigns, the
intake bot) and sending keyword replies through the provider — runs in Celery after
commit, given ids only.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

import audit
from accounts import blind_index, crypto
from accounts.actor import Actor
from accounts.db_conflicts import retrying_conflicts
from accounts.row_writes import create_row
from audit import AuditAction
from billing.services import record_inbound
from contacts.models import Contact
from contacts.selectors import contact_by_phone_index, is_opted_out
from contacts.services import create_contact, set_consent
from messaging.inbound import has_listeners
from messaging.keywords import Keyword, keyword_of
from messaging.models import Channel, Conversation, Message, MessagingSettings
from messaging.providers import InboundMessage

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, key): serialises concurrent first messages from one sender.
_SENDER_LOCK_NAMESPACE = 0x43524D49  # "CRMI"


def receive_inbound(channel: Channel, inbound: InboundMessage) -> Message | None:
    """Store an inbound message; None when this provider message id was already stored.

    Providers retry webhooks, so a repeat changes nothing and returns None. The caller must
    be inside the channel organisation's scope.
    """
    organization = channel.organization
    # Compute the blind index and load the data key before the transaction: an organisation's
    # first message creates its keys, and that must commit on its own, not inside (and locking
    # the organisation row for) a transaction that concurrent webhooks then wait on.
    sender = _sender(organization, inbound)
    crypto.primary_key(organization.pk, "data")
    def step() -> Message | None:
        # Services audit along the way (a new contact, a consent change): their events are
        # appended last, so the organisation's audit chain is the last lock taken.
        with transaction.atomic(), audit.deferred():
            return _receive(channel, inbound, *sender)

    try:
        # A conflict another writer caused is run again, not answered 500 (not every provider
        # retries an inbound webhook).
        return retrying_conflicts(step, what=f"inbound message on channel {channel.pk}")
    except IntegrityError:
        # A concurrent delivery of the same message won the unique (channel, provider id).
        if Message.objects.filter(channel=channel, provider_message_id=inbound.provider_message_id).exists():
            return None
        raise


def _receive(channel: Channel, inbound: InboundMessage, address: str, index: str,
             e164: str | None) -> Message | None:
    # No duplicate pre-check: a retried delivery fails the unique (channel, provider message id)
    # on the insert below and rolls this transaction back (see receive_inbound). Retries are
    # rare; a query on every message is not.
    organization = channel.organization
    contact = _contact_for(organization, channel, e164, index)
    keyword = keyword_of(inbound, opted_out=is_opted_out(contact, channel.kind))
    if keyword is Keyword.STOP:
        set_consent(actor=_inbound_actor(organization), contact=contact, channel=channel.kind, opted_in=False,
                    source="keyword:STOP")
    elif keyword is Keyword.START:
        set_consent(actor=_inbound_actor(organization), contact=contact, channel=channel.kind, opted_in=True,
                    source="keyword:START")
    now = timezone.now()
    received_at = min(inbound.received_at or now, now)
    conversation = _open_conversation(channel, contact, received_at, now)
    # Its 28-column INSERT built once (accounts/row_writes.py), not compiled at every message.
    message = create_row(
        Message, organization=organization, conversation=conversation, channel=channel, contact=contact,
        direction=Message.Direction.INBOUND, origin=Message.Origin.PATIENT, status=Message.Status.RECEIVED,
        remote_address=address, remote_address_index=index, body=_text_of(inbound),
        payload=_payload_of(inbound, keyword), provider_message_id=inbound.provider_message_id,
    )
    # Metered in this transaction: a retried webhook (its duplicate insert above fails) counts once.
    record_inbound(organization_id=organization.pk, channel_kind=channel.kind)
    # Late in the transaction, so the organisation's audit chain lock is held for the shortest time.
    audit.record(AuditAction.MESSAGE_RECEIVED, target=message, actor=None, organization=organization,
                 detail={"message_id": message.pk, "conversation_id": conversation.pk,
                         "keyword": keyword.value if keyword else None})
    if keyword is not None and channel.is_active:
        _auto_reply(channel, contact, conversation, address, keyword)
    if has_listeners(organization.pk):
        from messaging.tasks import enqueue_inbound_handlers

        transaction.on_commit(partial(enqueue_inbound_handlers, organization.pk, message.pk))
    return message


def _sender(organization, inbound: InboundMessage) -> tuple[str, str, str | None]:
    """(address as received, its blind index, E.164 or None when the sender is not a phone)."""
    raw = inbound.from_address
    if inbound.from_is_phone:
        try:
            e164 = blind_index.normalize_phone(raw, organization.default_region)
        except blind_index.InvalidPhoneNumber:
            pass
        else:
            return e164, blind_index.phone_index(organization.pk, e164), e164
    # A WhatsApp business-scoped user id or a short code: indexed as is, never a contact phone.
    return raw, blind_index.digest(organization.pk, "phone", raw), None


def _lock_sender(organization_id: int, index: str) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite (embedded) serialises writers anyway
    key = int.from_bytes(hashlib.sha256(f"{organization_id}:{index}".encode()).digest()[:4], "big",
                         signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SENDER_LOCK_NAMESPACE, key])


def _contact_for(organization, channel: Channel, e164: str | None, index: str) -> Contact:
    """The organisation's contact for this sender; an unknown sender becomes a new contact.

    Known senders (the common case) cost one indexed lookup. Only creating a contact takes
    the sender's lock, so two first messages at once cannot create two contacts.
    """
    if e164 is not None:
        actor = _inbound_actor(organization)
        contact = contact_by_phone_index(actor=actor, organization=organization, phone_index=index)
        if contact is None:
            _lock_sender(organization.pk, index)
            contact = contact_by_phone_index(actor=actor, organization=organization, phone_index=index) or \
                create_contact(actor=actor, organization=organization, origin="inbound", phone=e164)
        return contact
    _lock_sender(organization.pk, index)
    earlier = (Message.objects.filter(channel=channel, remote_address_index=index, contact__isnull=False)
               .select_related("contact").order_by("-pk").first())
    if earlier is not None:
        return earlier.contact
    return create_contact(actor=_inbound_actor(organization), organization=organization, origin="inbound")


def _inbound_actor(organization):
    # Contacts' services take an actor: an inbound message acts as the system for its organisation.
    return Actor.system("inbound-webhook", organization_id=organization.pk)


def _open_conversation(channel: Channel, contact: Contact, received_at: datetime,
                       now: datetime) -> Conversation:
    """Join the open conversation or open one, counting this message as unread.

    Joining (the common case) is one UPDATE … RETURNING; the instance it gives back holds the
    columns read here and loads any other on access.
    """
    conversation = _bump_open_conversation(channel, contact, received_at, now)
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():  # the partial unique constraint is the final word on races
            return Conversation.objects.create(
                organization_id=channel.organization_id, channel=channel, contact=contact,
                unread_count=1, last_message_at=now, last_inbound_at=received_at,
            )
    except IntegrityError:  # a concurrent first message opened it: join that one
        conversation = _bump_open_conversation(channel, contact, received_at, now)
        if conversation is None:  # and staff closed it meanwhile: the provider's retry starts over
            raise RuntimeError("the open conversation closed while a message joined it") from None
        return conversation


# In model order, as Model.from_db expects; the other columns stay deferred.
_BUMP_FIELDS = tuple(f.attname for f in Conversation._meta.concrete_fields if f.attname in {
    "id", "organization_id", "channel_id", "contact_id", "status", "unread_count", "last_message_at",
    "last_inbound_at"})
# The status is written out, not bound: it is the condition of the partial unique index on
# (channel, contact), and a plan prepared for every run can only use that index when it sees it.
_BUMP = (f"UPDATE {Conversation._meta.db_table} SET unread_count = unread_count + 1, "  # noqa: S608 (no input)
         "last_message_at = %s, last_inbound_at = %s "
         "WHERE organization_id = %s AND channel_id = %s AND contact_id = %s "
         f"AND status = '{Conversation.Status.OPEN.value}' "
         f"RETURNING {', '.join(_BUMP_FIELDS)}")


def _bump_open_conversation(channel: Channel, contact: Contact, received_at: datetime,
                            now: datetime) -> Conversation | None:
    if not update_returning(connection):
        return _bump_with_orm(channel, contact, received_at, now)
    # Raw SQL because the ORM has no UPDATE … RETURNING; the organisation is in the WHERE
    # clause, as the tenant scope would put it.
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, [now, received_at, channel.organization_id, channel.pk, contact.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    return Conversation.from_db(connection.alias, _BUMP_FIELDS, row)


def update_returning(conn) -> bool:
    """Whether the one-statement bump is used: PostgreSQL. (SQLite has RETURNING only from 3.35,
    and the embedded database serves one clinic's demo: two statements are fine there.)"""
    return conn.vendor == "postgresql"


def _bump_with_orm(channel: Channel, contact: Contact, received_at: datetime,
                   now: datetime) -> Conversation | None:
    conversation = Conversation.objects.filter(channel=channel, contact=contact,
                                               status=Conversation.Status.OPEN).first()
    if conversation is not None:
        Conversation.objects.filter(pk=conversation.pk).update(
            unread_count=F("unread_count") + 1, last_message_at=now, last_inbound_at=received_at)
        conversation.unread_count += 1
        conversation.last_message_at, conversation.last_inbound_at = now, received_at
    return conversation


def _text_of(inbound: InboundMessage) -> str:
    reply = inbound.whatsapp_reply
    if inbound.body or reply is None:
        return inbound.body
    return reply.title or reply.id


def _payload_of(inbound: InboundMessage, keyword: Keyword | None) -> dict:
    payload: dict = {"keyword": keyword.value} if keyword else {}
    if inbound.media:
        payload["media"] = [{"url": m.url, "content_type": m.content_type,
                             "provider_media_id": m.provider_media_id} for m in inbound.media]
    if inbound.whatsapp_reply is not None:
        reply = inbound.whatsapp_reply
        payload["reply"] = {"kind": reply.kind.value, "id": reply.id, "title": reply.title}
    if inbound.profile_name:
        payload["profile_name"] = inbound.profile_name
    if inbound.reply_to_provider_message_id:
        payload["reply_to"] = inbound.reply_to_provider_message_id
    return payload


def _auto_reply(channel: Channel, contact: Contact, conversation: Conversation, address: str,
                keyword: Keyword) -> None:
    """The keyword's confirmation (an organisation blanks a text to send none)."""
    from accounts.actor import Actor
    from messaging.services.outbound import SendRefused, send_system_message

    settings_row, _ = MessagingSettings.objects.get_or_create(organization_id=channel.organization_id)
    text = {Keyword.STOP: settings_row.stop_reply, Keyword.START: settings_row.start_reply,
            Keyword.HELP: settings_row.help_reply}[keyword]
    text = (text or "").replace("{org}", channel.organization.name).strip()
    if not text:
        return
    try:
        send_system_message(channel=channel, to_phone=address, body=text, origin=Message.Origin.AUTO_REPLY,
                            conversation=conversation, contact=contact,
                            actor=Actor.system("keyword-replies", organization_id=channel.organization_id))
    except SendRefused as refused:
        logger.warning("keyword reply not sent on channel %s: %s", channel.pk, refused.reason_code)
