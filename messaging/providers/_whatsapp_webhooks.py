"""Reading WhatsApp Cloud API webhook payloads (PROVIDERS.md §3.2-3.3).

``entry[]`` and ``changes[]`` are arrays and are looped over in full; BSUID senders
(no ``from``, or ``user_id`` instead of ``wa_id``) are kept without crashing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from messaging.providers._http import (
    as_dict,
    as_list,
    from_unix,
    normalise_phone,
    redact,
    text,
)
from messaging.providers.messages import (
    InboundMedia,
    InboundMessage,
    MessageStatus,
    ReplyKind,
    SendOutcome,
    StatusUpdate,
    WhatsAppReply,
)

logger = logging.getLogger(__name__)

# classify(error_code, http_status) -> SendOutcome, supplied by the backend module.
Classifier = Callable[[str, int | None], SendOutcome]

STATUS_MAP = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,  # voice messages: played is read
    "failed": MessageStatus.FAILED,
}
_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


def parse_payload(
    data: dict[str, Any], classify: Classifier
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Every inbound message and status in a webhook body.

    ``classify(code, http_status)`` maps an error code to a SendOutcome.
    """
    inbound: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in map(as_dict, as_list(data.get("entry"))):
        for change in map(as_dict, as_list(entry.get("changes"))):
            if change.get("field", "messages") != "messages":
                continue  # other subscribed fields (templates, account updates) are not ours
            value = as_dict(change.get("value"))
            channel_address = text(as_dict(value.get("metadata")).get("phone_number_id"))
            contacts = [as_dict(c) for c in as_list(value.get("contacts"))]
            for message in map(as_dict, as_list(value.get("messages"))):
                parsed = _inbound(message, contacts, channel_address)
                if parsed is not None:
                    inbound.append(parsed)
            for status in map(as_dict, as_list(value.get("statuses"))):
                update = _status(status, classify)
                if update is not None:
                    statuses.append(update)
    return inbound, statuses


def _inbound(
    message: dict[str, Any], contacts: list[dict[str, Any]], channel_address: str
) -> InboundMessage | None:
    message_id = text(message.get("id"))
    if not message_id:
        logger.info("whatsapp inbound message without id ignored")
        return None
    contact = _contact_for(message, contacts)
    raw_sender = (
        text(message.get("from"))
        or text(message.get("from_user_id"))
        or text(contact.get("wa_id"))
        or text(contact.get("user_id"))
    )
    sender, sender_is_phone = normalise_phone(raw_sender) if raw_sender else ("", False)
    body, media, reply = _content(message)
    return InboundMessage(
        provider_message_id=message_id,
        from_address=sender,
        from_is_phone=sender_is_phone,
        to_address=channel_address,
        body=body,
        media=media,
        received_at=from_unix(message.get("timestamp")),
        whatsapp_reply=reply,
        profile_name=text(as_dict(contact.get("profile")).get("name")),
        reply_to_provider_message_id=text(as_dict(message.get("context")).get("id")),
    )


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    sender = text(message.get("from"))
    for contact in contacts:
        if sender and sender in (text(contact.get("wa_id")), text(contact.get("user_id"))):
            return contact
    # One message per webhook is the norm: its single contact is the sender.
    return contacts[0] if len(contacts) == 1 else {}


def _content(
    message: dict[str, Any],
) -> tuple[str, list[InboundMedia], WhatsAppReply | None]:
    """(body, media, reply) for one message; non-text types get a "[type]" body."""
    kind = text(message.get("type")) or "unsupported"
    if kind == "text":
        return text(as_dict(message.get("text")).get("body")), [], None
    if kind == "interactive":
        interactive = as_dict(message.get("interactive"))
        reply_type = text(interactive.get("type"))
        if reply_type in (ReplyKind.BUTTON_REPLY, ReplyKind.LIST_REPLY):
            chosen = as_dict(interactive.get(reply_type))
            title = text(chosen.get("title"))
            reply = WhatsAppReply(ReplyKind(reply_type), text(chosen.get("id")), title)
            return title, [], reply
        return f"[{reply_type or kind}]", [], None
    if kind == "button":  # quick-reply button of a template
        button = as_dict(message.get("button"))
        label = text(button.get("text"))
        reply = WhatsAppReply(ReplyKind.QUICK_REPLY, text(button.get("payload")), label)
        return label, [], reply
    if kind in _MEDIA_TYPES:
        media_object = as_dict(message.get(kind))
        media = InboundMedia(
            content_type=text(media_object.get("mime_type")),
            provider_media_id=text(media_object.get("id")),
        )
        return text(media_object.get("caption")) or f"[{kind}]", [media], None
    return f"[{kind}]", [], None


def _status(status: dict[str, Any], classify: Classifier) -> StatusUpdate | None:
    message_id = text(status.get("id"))
    raw_status = text(status.get("status"))
    mapped = STATUS_MAP.get(raw_status)
    if not message_id or mapped is None:
        logger.info("whatsapp status ignored: status=%s", raw_status)
        return None
    errors = [as_dict(e) for e in as_list(status.get("errors"))]
    error = errors[0] if errors else {}
    code = text(error.get("code"))
    details = text(as_dict(error.get("error_data")).get("details"))
    failure: SendOutcome | None = None
    if mapped is MessageStatus.FAILED:
        failure = classify(code, None)
    return StatusUpdate(
        provider_message_id=message_id,
        status=mapped,
        raw_status=raw_status,
        dedupe_key=f"{message_id}:{raw_status}",
        error_code=code,
        error_message=redact(details or text(error.get("message")) or text(error.get("title"))),
        occurred_at=from_unix(status.get("timestamp")),
        failure_outcome=failure,
        correlation_data=text(status.get("biz_opaque_callback_data")),
    )
