"""Sending: every outbound message goes through ``queue_messages`` (messaging.services.queueing),
which checks, stores encrypted as "queued", audits and hands to dispatch after commit.

The single-message paths here are thin callers of it: a refusal raises ``SendRefused``
before anything that looks sent is stored, with a sentence staff can act on. The UI also
imports the conversation helpers from here.
"""

from __future__ import annotations

from accounts.actor import Actor, ActorKind
from accounts.roles import Perm
from contacts.models import Contact
from messaging.models import Channel, Conversation, Message, WhatsAppTemplate
from messaging.services.conversations import (
    assign_conversation,
    close_conversation,
    mark_conversation_read,
    reopen_conversation,
)
from messaging.services.queue_checks import INVALID_PHONE, MAX_BODY_CHARACTERS, channel_refusal
from messaging.services.queueing import (
    Content,
    Outcome,
    QueueResult,
    Recipient,
    RecipientResult,
    TemplateSpec,
    queue_messages,
)

__all__ = [
    "MAX_BODY_CHARACTERS", "Content", "Outcome", "QueueResult", "Recipient", "RecipientResult", "SendRefused",
    "TemplateSpec", "assign_conversation", "close_conversation", "mark_conversation_read", "queue_messages",
    "queue_system_message", "reopen_conversation", "send_reply", "send_system_message", "send_template",
    "send_test_message",
]


class SendRefused(Exception):
    """A message CareRelay will not send; ``message`` tells staff what to do instead.

    The partner API answers it as 422 with ``reason_code`` (``http_status``/``as_dict``); a refusal
    by the plan (``quota``: billing's numbers) as 402 with needed/included/used/remaining, as
    billing's own QuotaExceeded is answered."""

    http_status = 422

    def __init__(self, reason_code: str, message: str, *, quota: dict | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message
        self.quota = quota
        if quota is not None:
            self.http_status = 402

    def as_dict(self) -> dict:
        numbers = {k: v for k, v in (self.quota or {}).items() if k not in ("code", "message")}
        return {"code": self.reason_code, "message": self.message, **numbers}


def send_reply(*, conversation: Conversation, body: str, actor: Actor) -> Message:
    """Queue a reply in ``conversation`` (staff, or a partner system through the API: origin
    ``api`` for an API key); the contact's current number receives it."""
    actor.require(Perm.MESSAGES_SEND, conversation)
    recipient = Recipient(contact_id=conversation.contact_id, conversation_id=conversation.pk,
                          body=body or "")
    return _one(queue_messages(actor=actor, channel=conversation.channel, recipients=[recipient],
                               origin=_origin_of(actor), conversations=[conversation]))


def send_template(*, conversation: Conversation, template: WhatsAppTemplate, parameters: list[str],
                  actor: Actor) -> Message:
    """Queue an approved WhatsApp template: the one thing allowed outside the 24-hour window."""
    actor.require(Perm.MESSAGES_SEND, conversation)
    channel = conversation.channel
    refusal = channel_refusal(channel)
    if refusal is not None:
        raise SendRefused(refusal.code, refusal.message)
    if template.channel_id != channel.pk or not template.is_active:
        raise SendRefused("template_unavailable",
                          "That template is not an active template of this conversation's channel: "
                          "choose another one.")
    parameters = [str(p) for p in parameters]
    if len(parameters) != template.parameter_count:
        raise SendRefused("template_parameters",
                          f"The template needs {template.parameter_count} value(s); you gave "
                          f"{len(parameters)}. Fill in every placeholder.")
    preview = template.preview or template.name
    for number, value in enumerate(parameters, start=1):
        preview = preview.replace(f"{{{{{number}}}}}", value)
    content = Content(body=preview,
                      template=TemplateSpec(template.name, template.language, tuple(parameters)))
    recipient = Recipient(contact_id=conversation.contact_id, conversation_id=conversation.pk)
    return _one(queue_messages(actor=actor, channel=channel, recipients=[recipient], content=content,
                               origin=_origin_of(actor), conversations=[conversation]))


def _origin_of(actor: Actor) -> str:
    """Replies and templates a partner system sends count as ``api`` (usage by origin)."""
    return Message.Origin.API if actor.kind is ActorKind.API_KEY else Message.Origin.STAFF


def send_test_message(*, channel: Channel, to_phone: str, actor: Actor) -> Message:
    """Queue a short test message from ``channel`` to ``to_phone`` (channel managers only)."""
    actor.require(Perm.CHANNELS_MANAGE, channel)
    body = f"CareRelay test message from {channel.organization.name}: the channel {channel.name} works."
    return send_system_message(channel=channel, to_phone=to_phone, body=body, origin=Message.Origin.TEST,
                               actor=actor)


def send_system_message(*, channel: Channel, to_phone: str, body: str, origin: str, actor: Actor,
                        conversation: Conversation | None = None, contact: Contact | None = None,
                        payload: dict | None = None, conversation_id: int | None = None) -> Message:
    """Queue a message CareRelay sends by itself: keyword replies, sign-in codes, test messages.

    ``actor`` is the job (``Actor.system("keyword-replies", ...)``) or the member who asked.
    Keyword replies (origin ``auto_reply``) are sent even to opted-out numbers: the STOP
    confirmation and HELP answers are required. Everything else respects opt-outs and
    WhatsApp's 24-hour window. ``payload`` travels with the message (e.g. ``interactive``).
    ``contact`` and ``conversation`` are rows the caller just read: their consent and window
    are checked as read.
    """
    message_id = queue_system_message(channel=channel, to_phone=to_phone, body=body, origin=origin,
                                      actor=actor, conversation=conversation, contact=contact,
                                      payload=payload, conversation_id=conversation_id)
    # One table: callers read the message's own fields (related rows load if one is asked for).
    return Message.objects.get(pk=message_id)


def queue_system_message(*, channel: Channel, to_phone: str, body: str, origin: str, actor: Actor,
                         conversation: Conversation | None = None, contact: Contact | None = None,
                         payload: dict | None = None, conversation_id: int | None = None) -> int:
    """``send_system_message`` for a caller that needs only the new message's id (the intake
    bot's questions): the stored row is not read back."""
    recipient = Recipient(contact_id=contact.pk if contact is not None else None, to_phone=to_phone or "",
                          body=body or "",
                          conversation_id=conversation.pk if conversation is not None else conversation_id)
    if not recipient.to_phone:
        raise SendRefused(INVALID_PHONE.code, INVALID_PHONE.message)
    content = Content(interactive=(payload or {}).get("interactive")) if payload else None
    return _stored_id(queue_messages(actor=actor, channel=channel, recipients=[recipient], origin=origin,
                                     content=content, conversations=[conversation] if conversation else [],
                                     contacts=[contact] if contact is not None else []))


def _stored_id(result: QueueResult) -> int:
    """The id of the single message a one-recipient call stored, or its refusal raised."""
    (outcome,) = result.results
    if outcome.outcome is Outcome.REFUSED:
        raise SendRefused(outcome.reason_code, outcome.reason, quota=outcome.quota)
    return outcome.message_id


def _one(result: QueueResult) -> Message:
    """The single message a one-recipient call stored, or its refusal raised: as stored, or read
    back when it may have changed since (delivered in this process, or stored by an earlier call)."""
    message_id = _stored_id(result)
    stored = result.results[0].message
    # One table: callers read the message's own fields (related rows load if one is asked for).
    return stored if stored is not None else Message.objects.get(pk=message_id)
