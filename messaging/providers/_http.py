"""Small helpers shared by the backends: headers, bodies, times, redaction."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from messaging.providers.messages import OutboundMessage

MAX_ERROR_MESSAGE_LENGTH = 300
# Anything that looks like a phone number in provider error text ("+1 (415) 555-0100").
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_E164_DIGITS = re.compile(r"^\+?[1-9]\d{6,14}$")


class WebhookPayloadError(ValueError):
    """A webhook body could not be understood. The message never contains PHI."""


def lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Return headers as a plain dict with lower-case names (HTTP names are case-blind)."""
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a dict, else an empty one (defensive payload reading)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """Return ``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    """Return a payload value as a string ("" for missing/null)."""
    return "" if value is None else str(value)


def normalise_phone(raw: str) -> tuple[str, bool]:
    """Return (address, is_phone): E.164 for phone-like input, the raw id otherwise.

    Providers send ``+14155550100``, ``whatsapp:+14155550100`` or Meta's bare
    ``14155550100``; WhatsApp business-scoped user ids (``US.1234``) are kept as they are.
    """
    value = raw.strip()
    if value.startswith("whatsapp:"):
        value = value[len("whatsapp:") :]
    if _E164_DIGITS.match(value):
        return "+" + value.lstrip("+"), True
    return value, False


def from_iso(value: Any) -> datetime | None:
    """Parse an ISO-8601 timestamp (Telnyx), or return None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def from_unix(value: Any) -> datetime | None:
    """Parse Unix seconds given as a string or number (Meta), or return None."""
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def utc_now() -> datetime:
    """The current time, timezone-aware (used where a provider sends no timestamp)."""
    return datetime.now(tz=UTC)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def redact(error_text: str, message: OutboundMessage | None = None) -> str:
    """Remove the recipient, the body and phone-like numbers from provider error text.

    Providers echo the offending number back ("The 'To' number +1415… is not valid");
    that text ends up in logs and on screens, so it must not carry PHI.
    """
    cleaned = str(error_text or "")
    if message is not None:
        for secret in (message.to, message.body):
            # Very short bodies ("y") would blank out ordinary letters; skip them.
            if secret and len(secret) >= 4:
                cleaned = cleaned.replace(secret, "[redacted]")
    cleaned = _PHONE_LIKE.sub("[number]", cleaned)
    return cleaned[:MAX_ERROR_MESSAGE_LENGTH]
