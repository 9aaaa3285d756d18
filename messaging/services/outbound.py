"""Sending: every outbound message is checked, stored encrypted as "queued", audited, and
handed to Celery after the transaction commits (``messaging.tasks.dispatch_message``).

Refusals raise ``SendRefused`` before anything that looks sent is stored, with a sentence
staff can act on. The UI also imports the conversation helpers from here.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

import audit
from accounts import blind_index
from accounts.roles import Perm, require_member
from audit import AuditAction
from contacts.models import Contact
from contacts.selectors import find_by_phone, is_opted_out
from messaging import selectors
from messaging.models import Channel, Conversation, Message, WhatsAppTemplate
from messaging.segments import count_segments
from messaging.services.conversations import (
    assign_conversation,
    close_conversation,
    mark_conversation_read,
    reopen_conversation,
)

__all__ = [
    "MAX_BODY_CHARACTERS", "SendRefused", "assign_conversation", "close_conversation",
    "enqueue_dispatch", "mark_conversation_read", "reopen_conversation", "send_reply",
    "send_system_message", "send_template", "send_test_message",
]

logger = logging.getLogger(__name__)

# Twilio refuses SMS bodies over 1,600 characters; WhatsApp text messages stop at 4,096.
MAX_BODY_CHARACTERS = {Channel.Kind.SMS: 1600, Channel.Kind.WHATSAPP: 4096}


class SendRefused(Exception):
    """A message CareRelay will not send; ``message`` tells staff what to do instead."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def send_reply(*, conversation: Conversation, body: str, actor) -> Message:
    """Queue a staff reply in ``conversation``; the contact's current number receives it."""
    require_member(actor, conversation.organization, Perm.MESSAGES_SEND)
    channel, contact = conversation.channel, conversation.contact
    body = _checked_body(channel, body)
    _check_consent(channel, contact)
    if not selectors.window_open(conversation):
        raise SendRefused(
            "window_closed",
            "WhatsApp only allows free-form replies within 24 hours of the patient's last message. "
            "Send an approved template instead.",
        )
    to, index = _address_of(conversation)
    return _queue(channel=channel, contact=contact, conversation=conversation, to=to, index=index,
                  body=body, origin=Message.Origin.STAFF, actor=actor)


def send_template(*, conversation: Conversation, template: WhatsAppTemplate, parameters: list[str],
                  actor) -> Message:
    """Queue an approved WhatsApp template: the one thing allowed outside the 24-hour window."""
    require_member(actor, conversation.organization, Perm.MESSAGES_SEND)
    channel, contact = conversation.channel, conversation.contact
    _check_channel(channel)
    if template.channel_id != channel.pk or not template.is_active:
        raise SendRefused("template_unavailable",
                          "That template is not an active template of this conversation's channel: "
                          "choose another one.")
    parameters = [str(p) for p in parameters]
    if len(parameters) != template.parameter_count:
        raise SendRefused("template_parameters",
                          f"The template needs {template.parameter_count} value(s); you gave "
                          f"{len(parameters)}. Fill in every placeholder.")
    _check_consent(channel, contact)
    preview = template.preview or template.name
    for number, value in enumerate(parameters, start=1):
        preview = preview.replace(f"{{{{{number}}}}}", value)
    to, index = _address_of(conversation)
    payload = {"template": {"name": template.name, "language": template.language, "parameters": parameters}}
    return _queue(channel=channel, contact=contact, conversation=conversation, to=to, index=index,
                  body=preview, origin=Message.Origin.STAFF, actor=actor, payload=payload,
                  template_name=template.name)


def send_test_message(*, channel: Channel, to_phone: str, actor) -> Message:
    """Queue a short test message from ``channel`` to ``to_phone`` (channel managers only)."""
    require_member(actor, channel.organization, Perm.CHANNELS_MANAGE)
    body = f"CareRelay test message from {channel.organization.name}: the channel {channel.name} works."
    return send_system_message(channel=channel, to_phone=to_phone, body=body, origin=Message.Origin.TEST,
                               actor=actor)


def send_system_message(*, channel: Channel, to_phone: str, body: str, origin: str,
                        conversation: Conversation | None = None, contact: Contact | None = None,
                        actor=None, payload: dict | None = None) -> Message:
    """Queue a message CareRelay sends by itself: keyword replies, sign-in codes, test messages.

    No role check (the callers are system paths or check their own permission). Keyword
    replies (origin ``auto_reply``) are sent even to opted-out numbers: the STOP
    confirmation and HELP answers are required. Everything else respects opt-outs and
    WhatsApp's 24-hour window. ``payload`` travels with the message (e.g. ``interactive``).
    """
    body = _checked_body(channel, body)
    organization = channel.organization
    try:
        e164 = blind_index.normalize_phone(to_phone, organization.default_region)
    except blind_index.InvalidPhoneNumber:
        raise SendRefused("invalid_phone",
                          "That is not a valid phone number: write it with its country code, "
                          "e.g. +14155550123.") from None
    if contact is None:
        contact = find_by_phone(organization, e164)
    if origin != Message.Origin.AUTO_REPLY:
        _check_consent(channel, contact)
        if channel.kind == Channel.Kind.WHATSAPP and conversation is None:
            _check_number_window(channel, organization.pk, e164)
    return _queue(channel=channel, contact=contact, conversation=conversation, to=e164,
                  index=blind_index.phone_index(organization.pk, e164), body=body, origin=origin, actor=actor,
                  payload=payload)


def enqueue_dispatch(organization_id: int, message_id: int) -> None:
    """Hand a stored message to Celery; if the broker is down it stays queued for the sweeper."""
    from kombu.exceptions import OperationalError

    from messaging.tasks import dispatch_message

    try:
        dispatch_message.delay(org_id=organization_id, message_id=message_id)
    except OperationalError:
        logger.warning("broker unavailable: message %s stays queued for requeue_stalled_messages", message_id)


# --- checks ------------------------------------------------------------------------------------
def _check_channel(channel: Channel) -> None:
    if not channel.is_active:
        raise SendRefused("channel_inactive",
                          f"The channel {channel.name} is switched off. An admin can switch it on under "
                          "Channels, or send from another channel.")


def _checked_body(channel: Channel, body: str) -> str:
    _check_channel(channel)
    body = (body or "").strip()
    if not body:
        raise SendRefused("empty_body", "The message is empty: write something before sending.")
    limit = MAX_BODY_CHARACTERS.get(channel.kind, 1600)
    if len(body) > limit:
        raise SendRefused("body_too_long",
                          f"The message is {len(body)} characters long; a {channel.get_kind_display()} "
                          f"message can hold at most {limit}. Shorten it or send it in two parts.")
    return body


def _check_consent(channel: Channel, contact: Contact | None) -> None:
    if contact is not None and is_opted_out(contact, channel.kind):
        raise SendRefused("opted_out",
                          f"This patient opted out of {channel.get_kind_display()} messages (they replied "
                          "STOP). Nothing was sent; they can opt back in by replying START.")


def _check_number_window(channel: Channel, organization_id: int, e164: str) -> None:
    index = blind_index.phone_index(organization_id, e164)
    last = (Message.objects.filter(channel=channel, remote_address_index=index,
                                   direction=Message.Direction.INBOUND)
            .order_by("-created_at").values_list("created_at", flat=True).first())
    if last is None or timezone.now() - last >= selectors.WHATSAPP_WINDOW:
        raise SendRefused("window_closed",
                          "WhatsApp only allows free-form messages within 24 hours of the person's last "
                          "message: ask them to message this number first, or use an approved template.")


def _address_of(conversation: Conversation) -> tuple[str, str]:
    """The contact's current phone, else the address their last message came from."""
    contact = conversation.contact
    if contact.phone:
        return contact.phone, contact.phone_index
    last = (conversation.messages.filter(direction=Message.Direction.INBOUND)
            .exclude(remote_address_index="").order_by("-created_at").first())
    if last is None or not last.remote_address:
        raise SendRefused("no_address", "This patient has no phone number: add one to their record, "
                                        "then send again.")
    return last.remote_address, last.remote_address_index


# --- storing -----------------------------------------------------------------------------------
@transaction.atomic
def _queue(*, channel: Channel, contact: Contact | None, conversation: Conversation | None, to: str,
           index: str, body: str, origin: str, actor, payload: dict | None = None,
           template_name: str = "") -> Message:
    info = count_segments(body)
    now = timezone.now()
    message = Message.objects.create(
        organization_id=channel.organization_id, conversation=conversation, channel=channel,
        contact=contact, direction=Message.Direction.OUTBOUND, remote_address=to,
        remote_address_index=index, origin=origin, body=body, payload=payload or {},
        template_name=template_name, status=Message.Status.QUEUED, segments=info.segments,
        encoding=info.encoding, sent_by=actor if getattr(actor, "pk", None) else None,
    )
    if conversation is not None:
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
        conversation.last_message_at = now
    audit.record(AuditAction.MESSAGE_SENT, target=message, actor=actor,
                 organization=channel.organization,
                 detail={"message_id": message.pk, "segments": info.segments, "origin": origin,
                         "channel_id": channel.pk})
    transaction.on_commit(partial(enqueue_dispatch, channel.organization_id, message.pk))
    return message
