"""The webhook side of Twilio: X-Twilio-Signature and the form fields Twilio posts.

Signature: base64(HMAC-SHA1(auth token, URL + every parameter name+value, sorted)),
exactly as twilio-python's RequestValidator (VECTORS.md §1). Form fields: PROVIDERS.md
§1.2-1.3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from messaging.providers import _twilio_codes as codes
from messaging.providers._http import normalise_phone, utc_now
from messaging.providers.messages import (
    InboundMedia,
    InboundMessage,
    ReplyKind,
    StatusUpdate,
    WhatsAppReply,
)

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(auth_token: str, url: str, pairs: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth_token, url + Σ name+value)), names and values sorted, deduped."""
    by_name: dict[str, set[str]] = {}
    for name, value in pairs:
        by_name.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))
    digest = hmac.new(auth_token.encode(), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """``url`` as given, plus with the scheme's default port removed or added."""
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    variants = [url]
    try:
        port = parts.port
    except ValueError:
        return variants
    host = parts.hostname or ""
    if port is not None and port == default_port:
        variants.append(urlunsplit(parts._replace(netloc=_netloc(parts, host))))
    elif port is None and default_port is not None:
        netloc = _netloc(parts, f"{host}:{default_port}")
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def _netloc(parts: Any, host_port: str) -> str:
    userinfo = parts.netloc.rpartition("@")[0]
    return f"{userinfo}@{host_port}" if userinfo else host_port


def inbound_message(fields: dict[str, str]) -> InboundMessage:
    sender, sender_is_phone = normalise_phone(fields.get("From", ""))
    recipient, _ = normalise_phone(fields.get("To", ""))
    media = []
    try:
        media_count = int(fields.get("NumMedia") or 0)
    except ValueError:
        media_count = 0
    for index in range(media_count):
        url = fields.get(f"MediaUrl{index}", "")
        if url:
            media.append(InboundMedia(url=url, content_type=fields.get(f"MediaContentType{index}", "")))
    reply = None
    if fields.get("ButtonPayload") or fields.get("ButtonText"):
        reply = WhatsAppReply(
            ReplyKind.QUICK_REPLY, fields.get("ButtonPayload", ""), fields.get("ButtonText", "")
        )
    return InboundMessage(
        provider_message_id=fields["MessageSid"],
        from_address=sender,
        from_is_phone=sender_is_phone,
        to_address=recipient,
        body=fields.get("Body", ""),
        media=media,
        received_at=utc_now(),  # Twilio sends no timestamp with inbound messages
        whatsapp_reply=reply,
        profile_name=fields.get("ProfileName", ""),
        reply_to_provider_message_id=fields.get("OriginalRepliedMessageSid", ""),
    )


def status_update(fields: dict[str, str]) -> StatusUpdate | None:
    raw_status = fields["MessageStatus"]
    status = codes.STATUS_MAP.get(raw_status)
    sid = fields.get("MessageSid") or fields.get("SmsSid", "")
    if status is None or not sid:
        logger.info("twilio status callback ignored: status=%s", raw_status)
        return None
    error_code = fields.get("ErrorCode", "")
    return StatusUpdate(
        provider_message_id=sid,
        status=status,
        raw_status=raw_status,
        dedupe_key=f"{sid}:{raw_status}",
        error_code=error_code,
        error_message=codes.explain(error_code),
        occurred_at=utc_now(),  # RawDlrDoneDate is carrier-local and minute-precise only
        failure_outcome=codes.outcome_for(error_code, None) if error_code else None,
    )
