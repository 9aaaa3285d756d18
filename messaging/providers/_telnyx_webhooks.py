"""Telnyx error codes, status names and webhook payloads (PROVIDERS.md §2)."""

from __future__ import annotations

import logging
from typing import Any

from messaging.providers._http import (
    WebhookPayloadError,
    as_dict,
    as_list,
    from_iso,
    normalise_phone,
    redact,
    text,
)
from messaging.providers.messages import (
    InboundMedia,
    InboundMessage,
    MessageStatus,
    SendOutcome,
    StatusUpdate,
)

logger = logging.getLogger(__name__)

STATUS_MAP = {
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "delivery_failed": MessageStatus.UNDELIVERED,
    "delivery_unconfirmed": MessageStatus.UNDELIVERED,
    "sending_failed": MessageStatus.FAILED,
    "expired": MessageStatus.FAILED,
}
OPTED_OUT_CODES = frozenset({"40300"})
# 10011 API rate limit, 40318 message queue full.
RETRY_CODES = frozenset({"10011", "40318"})
EXPLANATIONS = {
    "40300": "The recipient replied STOP to this sender; they must text START to opt back in.",
    "40310": "The recipient is not a valid phone number: check the contact's number.",
}


def classify(code: str, http_status: int | None) -> SendOutcome:
    """Classify a Telnyx error code (a string) and HTTP status."""
    if code in OPTED_OUT_CODES:  # 40300 comes with 409, 400, 403 or 422: key on the code
        return SendOutcome.OPTED_OUT
    if code in RETRY_CODES:
        return SendOutcome.RETRY_LATER
    if http_status is not None and (http_status == 429 or http_status >= 500):
        return SendOutcome.RETRY_LATER
    return SendOutcome.PERMANENT_FAILURE


def inbound_message(payload: dict[str, Any]) -> InboundMessage:
    """The InboundMessage in a message.received payload."""
    message_id = text(payload.get("id"))
    if not message_id:
        raise WebhookPayloadError("Telnyx message.received has no payload.id")
    sender, sender_is_phone = normalise_phone(text(as_dict(payload.get("from")).get("phone_number")))
    recipients = as_list(payload.get("to"))
    recipient = text(as_dict(recipients[0]).get("phone_number")) if recipients else ""
    media = [
        InboundMedia(url=text(item.get("url")), content_type=text(item.get("content_type")))
        for item in map(as_dict, as_list(payload.get("media")))
        if item.get("url")
    ]
    return InboundMessage(
        provider_message_id=message_id,
        from_address=sender,
        from_is_phone=sender_is_phone,
        to_address=normalise_phone(recipient)[0],
        body=text(payload.get("text")),
        media=media,
        received_at=from_iso(payload.get("received_at")),
    )


def status_updates(data: dict[str, Any], payload: dict[str, Any]) -> list[StatusUpdate]:
    """One StatusUpdate per recipient of a message.sent / message.finalized event."""
    event_id = text(data.get("id"))
    message_id = text(payload.get("id"))
    errors = [as_dict(e) for e in as_list(payload.get("errors"))]
    first_error = errors[0] if errors else {}
    code = text(first_error.get("code"))
    updates = []
    # One status per recipient; our sends have one, group MMS would have several.
    for index, recipient in enumerate(map(as_dict, as_list(payload.get("to")))):
        raw_status = text(recipient.get("status"))
        status = STATUS_MAP.get(raw_status)
        if status is None or not message_id:
            continue
        failed = status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
        updates.append(
            StatusUpdate(
                provider_message_id=message_id,
                status=status,
                raw_status=raw_status,
                dedupe_key=event_id if index == 0 else f"{event_id}:{index}",
                error_code=code,
                error_message=EXPLANATIONS.get(code) or redact(error_text(first_error)),
                occurred_at=from_iso(data.get("occurred_at")),
                failure_outcome=classify(code, None) if failed else None,
            )
        )
    return updates


def error_text(error: dict[str, Any]) -> str:
    """Telnyx's title and detail of one error object, joined."""
    return " ".join(filter(None, [text(error.get("title")), text(error.get("detail"))]))
