"""Delivering one queued message to its provider, exactly once where the provider allows it.

The protocol (``deliver_message``), run by ``messaging.tasks.dispatch_message``:

1. Take a PostgreSQL session advisory lock on the message. Another live worker holding
   it is sending this message right now: step aside. The lock dies with the holder's
   database connection, so a crashed worker never blocks the message.
2. A message no longer queued/sending is done: skip (re-delivered or duplicate tasks).
3. Take a rate-limit slot for the channel, or report how long to wait (the task
   re-schedules itself; no worker sleeps).
4. Commit status "sending" and attempts+1 BEFORE calling the provider: a durable
   "a send may have started" marker.
5. Call the provider with ``idempotency_key`` = a stable per-message key; store the
   outcome.

"In doubt": finding "sending" under a free lock (step 2) means a worker died during step
5, or the provider timed out: the provider may or may not have the message. We send
again with the same idempotency key — Telnyx answers the original result (exactly once);
Twilio and Meta have no such key, so for them a crash inside the HTTP call can send the
message twice. We accept that (at-least-once): a duplicate reminder is better than a
clinic message silently lost.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from contacts.selectors import is_opted_out
from contacts.services import set_consent
from messaging.channel_config import backend_for, channel_config
from messaging.models import Message
from messaging.providers import MessageTemplate, OutboundMessage, SendOutcome, SendResult
from messaging.providers.messages import InteractiveMessage, ListRow, ListSection, ReplyButton
from messaging.ratelimit import get_rate_limiter

logger = logging.getLogger(__name__)

_MESSAGE_LOCK_SPACE = 0x4D53 << 40  # one-key advisory locks: "MS" + message id
WINDOW_CLOSED_TEXT = "Outside WhatsApp's 24-hour window: send an approved template."


@dataclass(frozen=True)
class DispatchResult:
    """What happened, and when to try again (``retry_in``: provider busy; ``wait``: rate limit)."""

    outcome: str  # sent / failed / skipped / busy / rate_limited / retry
    retry_in: float = 0.0


def idempotency_key(message: Message) -> str:
    """The same key for every attempt of one message, unique across deployments."""
    return f"carerelay-{message.organization_id}-{message.pk}-{int(message.created_at.timestamp())}"


@contextmanager
def message_lock(message_id: int) -> Iterator[bool]:
    """Hold the message's session advisory lock (True), or learn a live worker holds it (False)."""
    if connection.vendor != "postgresql":
        yield True  # the embedded mode runs tasks in one process, one at a time
        return
    key = _MESSAGE_LOCK_SPACE + int(message_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                logger.warning("dispatch lock of message %s not released (connection lost)", message_id)


def deliver_message(message_id: int) -> DispatchResult:
    """Send one queued message (see the module docstring for the protocol)."""
    with message_lock(message_id) as held:
        if not held:
            return DispatchResult("busy")
        message = Message.objects.select_related("channel", "contact").filter(pk=message_id).first()
        if message is None or message.direction != Message.Direction.OUTBOUND or message.status not in (
                Message.Status.QUEUED, Message.Status.SENDING):
            return DispatchResult("skipped")
        if message.status == Message.Status.SENDING:
            logger.warning("message %s is in doubt (an earlier attempt was interrupted): sending again with "
                           "its idempotency key", message.pk)
        refusal = _refusal(message)
        if refusal:
            _fail(message, *refusal)
            return DispatchResult("failed")
        channel = message.channel
        wait = get_rate_limiter().acquire(channel.pk, channel.rate_limit_per_second)
        if wait > 0:
            return DispatchResult("rate_limited", wait)
        message.status = Message.Status.SENDING
        message.attempts += 1
        message.save(update_fields=["status", "attempts"])
        result = backend_for(channel).send(channel_config(channel), _outbound(message))
        return _record(message, result)


def _refusal(message: Message) -> tuple[str, str] | None:
    """Reasons to stop now (things changed since the message was queued)."""
    channel = message.channel
    if not channel.is_active:
        return ("channel_inactive", f"The channel {channel.name} was switched off before this message went "
                                    "out: switch it on, then send the message again.")
    if (message.contact is not None and message.origin != Message.Origin.AUTO_REPLY
            and is_opted_out(message.contact, channel.kind)):
        return ("opted_out", "The patient opted out (STOP) before this message went out: nothing was sent.")
    return None


def _outbound(message: Message) -> OutboundMessage:
    template = None
    spec = (message.payload or {}).get("template")
    if spec:
        template = MessageTemplate(name=spec["name"], language=spec.get("language") or "en_US",
                                   parameters=list(spec.get("parameters") or []))
    return OutboundMessage(
        to=message.remote_address or "", body="" if template else (message.body or ""),
        template=template, interactive=None if template else _interactive(message),
        idempotency_key=idempotency_key(message), correlation_data=f"msg-{message.pk}",
    )


def _interactive(message: Message) -> InteractiveMessage | None:
    """``payload["interactive"]`` (reply buttons or a list) as the backend's dataclass."""
    spec = (message.payload or {}).get("interactive")
    if not spec:
        return None
    return InteractiveMessage(
        body=spec.get("body") or message.body or "",
        buttons=[ReplyButton(id=b["id"], title=b["title"]) for b in spec.get("buttons") or []],
        sections=[ListSection(title=s.get("title", ""), rows=[_row(r) for r in s.get("rows") or []])
                  for s in spec.get("sections") or []],
        list_button=spec.get("list_button", ""), header=spec.get("header", ""), footer=spec.get("footer", ""),
    )


def _row(row: dict) -> ListRow:
    return ListRow(id=row["id"], title=row["title"], description=row.get("description", ""))


def _record(message: Message, result: SendResult) -> DispatchResult:
    """Store the provider's answer; a retry keeps the message queued."""
    if result.outcome is SendOutcome.ACCEPTED:
        message.status = Message.Status.SENT
        message.provider_message_id = result.provider_message_id
        message.sent_at = timezone.now()
        message.error_code, message.error_message = "", None
        message.save(update_fields=["status", "provider_message_id", "sent_at", "error_code",
                                    "error_message"])
        return DispatchResult("sent")
    if result.outcome is SendOutcome.RETRY_LATER:
        if message.attempts >= settings.MESSAGING_DISPATCH_MAX_ATTEMPTS:
            _fail(message, result.error_code or "retries_exhausted",
                  f"The provider did not accept the message after {message.attempts} attempts (last answer: "
                  f"{result.error_message or 'no answer'}). Check the provider's status, then send it again.")
            return DispatchResult("failed")
        message.status = Message.Status.QUEUED
        message.error_code = (result.error_code or "retry")[:32]
        message.error_message = result.error_message or "The provider is busy; trying again shortly."
        message.save(update_fields=["status", "error_code", "error_message"])
        return DispatchResult("retry", backoff_seconds(message.attempts, result.retry_after))
    if result.outcome is SendOutcome.OPTED_OUT:
        if message.contact is not None:
            set_consent(contact=message.contact, channel=message.channel.kind, opted_in=False,
                        source="provider:opt_out")
        _fail(message, result.error_code or "opted_out",
              "The recipient has opted out of messages from this number (they replied STOP). They must reply "
              "START before you can message them again.")
    elif result.outcome is SendOutcome.WINDOW_CLOSED:
        _fail(message, result.error_code or "window_closed", WINDOW_CLOSED_TEXT)
    else:
        _fail(message, result.error_code or "rejected",
              f"The provider refused the message: {result.error_message or 'no reason given'}.")
    return DispatchResult("failed")


def _fail(message: Message, code: str, text: str) -> None:
    message.status = Message.Status.FAILED
    message.failed_at = timezone.now()
    message.error_code, message.error_message = code[:32], text
    message.save(update_fields=["status", "failed_at", "error_code", "error_message"])


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; never sooner than the provider's Retry-After."""
    base = settings.MESSAGING_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    delay = min(settings.MESSAGING_RETRY_MAX_SECONDS, base)
    delay = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)
