"""Twilio status names and error codes, mapped to CareRelay's vocabulary (PROVIDERS.md §1)."""

from __future__ import annotations

from messaging.providers.messages import MessageStatus, SendOutcome

STATUS_MAP = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}

OPTED_OUT_CODES = frozenset({21610})
WINDOW_CLOSED_CODES = frozenset({63016})
# 20429 API concurrency, 21611/30001 sender queue full, 63018 WhatsApp channel rate limit.
RETRY_CODES = frozenset({20429, 21611, 30001, 63018})

# Twilio's own titles for the codes staff will see most; shown instead of free text.
_EXPLANATIONS = {
    20003: "Twilio rejected the Account SID / Auth Token: update the channel credentials.",
    20429: "Twilio is rate limiting requests; the message will be retried.",
    21211: "The recipient is not a valid phone number: check the contact's number.",
    21610: "The recipient replied STOP to this sender; they must text START to opt back in.",
    21611: "The sender's queue is full; the message will be retried.",
    21614: "The recipient number cannot receive SMS (e.g. a landline).",
    30003: "Unreachable destination handset.",
    30005: "Unknown destination handset.",
    30006: "Landline or unreachable carrier.",
    30007: "Message filtered by the carrier.",
    30008: "Unknown error from the carrier.",
    63016: "Outside the WhatsApp 24-hour window: send an approved template instead.",
    63018: "WhatsApp rate limit reached for this sender; the message will be retried.",
}


def _as_int(code: int | str | None) -> int | None:
    try:
        return int(code) if code not in (None, "") else None
    except (TypeError, ValueError):
        return None


def outcome_for(code: int | str | None, http_status: int | None) -> SendOutcome:
    """Classify a Twilio error code (and, for API errors, the HTTP status)."""
    number = _as_int(code)
    if number in OPTED_OUT_CODES:
        return SendOutcome.OPTED_OUT
    if number in WINDOW_CLOSED_CODES:
        return SendOutcome.WINDOW_CLOSED
    if number in RETRY_CODES:
        return SendOutcome.RETRY_LATER
    if http_status is not None and (http_status == 429 or http_status >= 500):
        return SendOutcome.RETRY_LATER
    return SendOutcome.PERMANENT_FAILURE


def explain(code: int | str | None) -> str:
    """A staff-readable sentence for a known code, or "" (then use the provider text)."""
    number = _as_int(code)
    return _EXPLANATIONS.get(number, "") if number is not None else ""
