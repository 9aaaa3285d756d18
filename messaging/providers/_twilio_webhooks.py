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
import re
from collections.abc import Iterable, Mapping
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


Fields = Mapping[str, list[str]]  # every value of every form parameter, by name
_NUMBERED = re.compile(r"^(MediaUrl|MediaContentType)(\d{1,3})$")


def first(fields: Fields, name: str) -> str:
    """The first value of a parameter ("" when absent), as Django's QueryDict reads it."""
    values = fields.get(name)
    return values[0] if values else ""


def inbound_media(fields: Fields) -> list[InboundMedia]:
    """Every media item of an inbound MMS/WhatsApp message, in order, each URL once.

    Twilio documents numbered pairs (``MediaUrl0`` + ``MediaContentType0`` …); a request may
    instead repeat ``MediaUrl``/``MediaContentType`` (one value each, in the same order), and a
    numbered name may itself repeat. All are kept: the signature covers every value.
    """
    numbered: dict[int, dict[str, list[str]]] = {}
    for name, values in fields.items():
        match = _NUMBERED.match(name)
        if match:
            numbered.setdefault(int(match.group(2)), {})[match.group(1)] = values
    pairs: list[tuple[str, str]] = []
    for index in sorted(numbered):
        urls = numbered[index].get("MediaUrl", [])
        types = numbered[index].get("MediaContentType", [])
        pairs.extend((url, types[i] if i < len(types) else "") for i, url in enumerate(urls))
    urls = fields.get("MediaUrl", [])
    types = fields.get("MediaContentType", [])
    pairs.extend((url, types[i] if i < len(types) else "") for i, url in enumerate(urls))
    media: list[InboundMedia] = []
    seen: set[str] = set()
    for url, content_type in pairs:
        if url and url not in seen:
            seen.add(url)
            media.append(InboundMedia(url=url, content_type=content_type))
    return media


def inbound_message(fields: Fields) -> InboundMessage:
    """The InboundMessage of an inbound-message webhook (PROVIDERS.md §1.2)."""
    sender, sender_is_phone = normalise_phone(first(fields, "From"))
    recipient, _ = normalise_phone(first(fields, "To"))
    reply = None
    payload, label = first(fields, "ButtonPayload"), first(fields, "ButtonText")
    if payload or label:
        reply = WhatsAppReply(ReplyKind.QUICK_REPLY, payload, label)
    return InboundMessage(
        provider_message_id=first(fields, "MessageSid"),
        from_address=sender,
        from_is_phone=sender_is_phone,
        to_address=recipient,
        body=first(fields, "Body"),
        media=inbound_media(fields),
        received_at=utc_now(),  # Twilio sends no timestamp with inbound messages
        whatsapp_reply=reply,
        profile_name=first(fields, "ProfileName"),
        reply_to_provider_message_id=first(fields, "OriginalRepliedMessageSid"),
    )


def status_update(fields: Fields) -> StatusUpdate | None:
    """The StatusUpdate of a status callback, or None for a status we do not track."""
    raw_status = first(fields, "MessageStatus")
    status = codes.STATUS_MAP.get(raw_status)
    sid = first(fields, "MessageSid") or first(fields, "SmsSid")
    if status is None or not sid:
        logger.info("twilio status callback ignored: status=%s", raw_status)
        return None
    error_code = first(fields, "ErrorCode")
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
