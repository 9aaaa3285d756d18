"""Realistic provider webhook payloads, shaped like ``shared/providers/samples/``.

Twilio builders return form pairs (sign them with ``signing.twilio_signed_form``);
Telnyx, Meta and simulator builders return the raw JSON bytes a provider would post
(compact; Meta escapes non-ASCII as ``\\uXXXX`` like the real thing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tests.fakes.ids import telnyx_id, twilio_sid, wamid

TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_SERVICE_SID = "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TELNYX_PROFILE_ID = "740572b6-099c-44a1-89b9-6c92163bc68d"
META_WABA_ID = "102290129340398"
META_PHONE_NUMBER_ID = "106540352242922"
META_DISPLAY_NUMBER = "15550783881"


def _compact(payload: Any, ascii_only: bool = False) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=ascii_only).encode()


# ---------------------------------------------------------------- Twilio (form pairs)
def twilio_inbound_sms(
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    media: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """An inbound SMS/MMS; ``media`` is (url, content type) pairs."""
    sid = message_sid or twilio_sid("MM" if media else "SM")
    pairs = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94107"),
        ("SmsSid", sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("MessagingServiceSid", TWILIO_SERVICE_SID),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", from_),
        ("ApiVersion", "2010-04-01"),
    ]
    for index, (url, content_type) in enumerate(media):
        pairs += [(f"MediaUrl{index}", url), (f"MediaContentType{index}", content_type)]
    return pairs


def twilio_inbound_whatsapp(
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    profile_name: str = "Sheena Nelson",
    button_payload: str | None = None,
) -> list[tuple[str, str]]:
    """An inbound WhatsApp message via Twilio; a ``button_payload`` makes it a button tap.

    ``from_``/``to`` are E.164; the ``whatsapp:`` prefix is added here.
    """
    sid = message_sid or twilio_sid("SM")
    pairs = [
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ProfileName", profile_name),
        ("SmsSid", sid),
        ("WaId", from_.lstrip("+")),
        ("SmsStatus", "received"),
        ("Body", body),
    ]
    if button_payload is not None:
        pairs += [("ButtonText", body), ("ButtonPayload", button_payload)]
    pairs += [
        ("To", f"whatsapp:{to}"),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", f"whatsapp:{from_}"),
        ("ApiVersion", "2010-04-01"),
    ]
    return pairs


def twilio_status(
    *, message_sid: str, status: str, from_: str, to: str, error_code: str | None = None
) -> list[tuple[str, str]]:
    """A status callback (``MessageStatus``), with ``ErrorCode`` when given."""
    pairs = [] if error_code is None else [("ErrorCode", error_code)]
    if status in ("delivered", "undelivered") and error_code is None:
        pairs.append(("RawDlrDoneDate", datetime.now(tz=UTC).strftime("%y%m%d%H%M")))
    pairs += [
        ("SmsSid", message_sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", to),
        ("MessagingServiceSid", TWILIO_SERVICE_SID),
        ("MessageSid", message_sid),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", from_),
        ("ApiVersion", "2010-04-01"),
    ]
    return pairs


# ---------------------------------------------------------------- Telnyx (JSON bytes)
def _telnyx_party(number: str, carrier: str = "T-MOBILE USA, INC.") -> dict[str, Any]:
    return {"carrier": carrier, "line_type": "Wireless", "phone_number": number}


def _telnyx_event(event_type: str, payload: dict[str, Any], event_id: str | None) -> bytes:
    now = datetime.now(tz=UTC).isoformat(timespec="milliseconds")
    url = "https://app.example.com/webhooks/telnyx/"
    return _compact(
        {
            "data": {
                "event_type": event_type,
                "id": event_id or telnyx_id(),
                "occurred_at": now,
                "payload": payload,
                "record_type": "event",
            },
            "meta": {"attempt": 1, "delivered_to": url},
        }
    )


def telnyx_inbound(
    *,
    from_: str,
    to: str,
    text: str,
    message_id: str | None = None,
    event_id: str | None = None,
    media: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A ``message.received`` event; ``media`` is (url, content type) pairs."""
    payload = {
        "cc": [],
        "completed_at": None,
        "cost": None,
        "direction": "inbound",
        "encoding": "GSM-7",
        "errors": [],
        "from": _telnyx_party(from_),
        "id": message_id or telnyx_id(),
        "media": [
            {"content_type": ct, "hash_sha256": "0" * 64, "size": 1000, "url": url} for url, ct in media
        ],
        "messaging_profile_id": TELNYX_PROFILE_ID,
        "parts": 1,
        "received_at": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
        "record_type": "message",
        "sent_at": None,
        "subject": "",
        "tags": [],
        "text": text,
        "to": [{**_telnyx_party(to, "TELNYX LLC"), "status": "webhook_delivered"}],
        "type": "MMS" if media else "SMS",
    }
    return _telnyx_event("message.received", payload, event_id)


def telnyx_status(
    *,
    message_id: str,
    status: str,
    from_: str,
    to: str,
    event_type: str | None = None,
    event_id: str | None = None,
    errors: Sequence[dict[str, str]] = (),
) -> bytes:
    """A ``message.sent`` (status "sent") or ``message.finalized`` event."""
    kind = event_type or ("message.sent" if status == "sent" else "message.finalized")
    payload = {
        "cc": [],
        "direction": "outbound",
        "encoding": "GSM-7",
        "errors": list(errors),
        "from": _telnyx_party(from_, "TELNYX LLC"),
        "id": message_id,
        "media": [],
        "messaging_profile_id": TELNYX_PROFILE_ID,
        "parts": 1,
        "record_type": "message",
        "text": "",
        "to": [{**_telnyx_party(to), "status": status}],
        "type": "SMS",
    }
    return _telnyx_event(kind, payload, event_id)


# ---------------------------------------------------------------- Meta (JSON bytes)
def _meta_envelope(value: dict[str, Any], phone_number_id: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": META_DISPLAY_NUMBER, "phone_number_id": phone_number_id},
        **value,
    }
    entry = {"id": META_WABA_ID, "changes": [{"value": value, "field": "messages"}]}
    return _compact({"object": "whatsapp_business_account", "entry": [entry]}, ascii_only=True)


def _meta_message(
    content: dict[str, Any],
    *,
    from_wa_id: str,
    phone_number_id: str,
    message_id: str | None,
    profile_name: str,
    context_id: str | None = None,
) -> bytes:
    message = {"from": from_wa_id, "id": message_id or wamid(), "timestamp": str(int(time.time())), **content}
    if context_id:
        message["context"] = {"from": META_DISPLAY_NUMBER, "id": context_id}
    contacts = [{"profile": {"name": profile_name}, "wa_id": from_wa_id}]
    return _meta_envelope({"contacts": contacts, "messages": [message]}, phone_number_id)


def meta_inbound_text(
    *,
    from_wa_id: str,
    text: str,
    phone_number_id: str = META_PHONE_NUMBER_ID,
    message_id: str | None = None,
    profile_name: str = "Sheena Nelson",
) -> bytes:
    """A text message; ``from_wa_id`` is digits without ``+`` (``16505551234``)."""
    return _meta_message(
        {"type": "text", "text": {"body": text}},
        from_wa_id=from_wa_id,
        phone_number_id=phone_number_id,
        message_id=message_id,
        profile_name=profile_name,
    )


def meta_inbound_reply(
    *,
    from_wa_id: str,
    kind: str,
    reply_id: str,
    title: str,
    description: str = "",
    phone_number_id: str = META_PHONE_NUMBER_ID,
    message_id: str | None = None,
    profile_name: str = "Sheena Nelson",
    context_id: str | None = None,
) -> bytes:
    """A tap: ``kind`` "button_reply", "list_reply" or "quick_reply" (template button)."""
    if kind == "quick_reply":
        content: dict[str, Any] = {"type": "button", "button": {"payload": reply_id, "text": title}}
    else:
        chosen = {"id": reply_id, "title": title}
        if description:
            chosen["description"] = description
        content = {"type": "interactive", "interactive": {"type": kind, kind: chosen}}
    return _meta_message(
        content,
        from_wa_id=from_wa_id,
        phone_number_id=phone_number_id,
        message_id=message_id,
        profile_name=profile_name,
        context_id=context_id or wamid(),
    )


def meta_status(
    *,
    message_id: str,
    status: str,
    recipient_id: str,
    phone_number_id: str = META_PHONE_NUMBER_ID,
    errors: Sequence[dict[str, Any]] = (),
) -> bytes:
    """A ``statuses[]`` webhook (sent/delivered/read/failed)."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient_id,
    }
    if errors:
        item["errors"] = list(errors)
    else:
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    return _meta_envelope({"statuses": [item]}, phone_number_id)


# ---------------------------------------------------------------- simulator
def simulator_inbound(*, from_: str, to: str, body: str, message_id: str | None = None) -> bytes:
    """What the simulator page posts when the 'patient' sends a message."""
    return _compact({"id": message_id or f"simin_{telnyx_id()}", "from": from_, "to": to, "body": body})
