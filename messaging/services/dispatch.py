"""Delivering one queued message to its provider, exactly once where the provider allows it.

The protocol (``deliver_message``), run by ``messaging.tasks.dispatch_message`` for one message
and by ``messaging.tasks.send_batch`` for up to MESSAGING_SEND_BATCH_SIZE of one channel whose
slots fall within a second (``deliver_messages``: the same steps, each batched into one statement):

1. Take a PostgreSQL session advisory lock on the message. Another live worker holding
   it is sending this message right now: step aside. The lock dies with the holder's
   database connection, so a crashed worker never blocks the message.
2. A message no longer queued/sending is done: skip (re-delivered or duplicate tasks).
3. The message's send slot: reserved by ``schedule_batch`` when it was handed over with
   others, or now (one reservation). A slot still ahead: report the wait (the task is
   scheduled once for that time; no worker sleeps, nothing polls).
4. Commit status "sending", attempts+1 and a send lease BEFORE calling the provider: a
   durable "a send may have started" marker.
5. Call the provider with a stable per-message idempotency key (``outbound_payload``); store the
   outcome.

"In doubt": finding "sending" under a free lock (step 2) means a worker died during step
5, or the provider gave no answer (a timeout or a dropped connection: it may have accepted
the message). Nothing is sent again before the provider is asked (``reconcile``): our
reference travels with every send (Twilio: ``ref=msg-<id>`` in the status-callback URL and
the message matched in Twilio's Messages list by To/From/DateSent and body; Telnyx: the
idempotency key, whose repeat answers the original; WhatsApp Cloud:
``biz_opaque_callback_data``, echoed in status webhooks). Each backend answers through
``find_sent``: FOUND stores the provider's id (never a second send), NOT_FOUND sends,
RETRY_LATER asks again with backoff, and UNKNOWN (Meta has no look-up; no webhook named
it) makes the message ``unknown`` for staff to check instead of sending it blind twice.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.actor import Actor
from accounts.db_values import ByPk
from accounts.prepared_query import PreparedQuery
from accounts.row_writes import save_fields
from contacts.selectors import is_opted_out
from contacts.services import set_consent
from messaging.channel_config import backend_for, channel_config
from messaging.models import Message
from messaging.outbound_gates import Hold, Notify, Verdict, sent, verdicts
from messaging.providers import SendOutcome, SendResult, SentLookupOutcome
from messaging.ratelimit import get_rate_limiter
from messaging.services.message_locks import _MESSAGE_LOCK_SPACE, message_lock, message_locks  # noqa: F401
from messaging.services.outbound_payload import outbound_of
from messaging.services.send_cap import ADMIT_WAIT_SECONDS, SendAllowance, admit

logger = logging.getLogger(__name__)

# A task may run a little before its slot (workers' clocks differ from Redis's): within this it sends.
SLOT_TOLERANCE = datetime.timedelta(milliseconds=50)
# A slot this far in the past is spent: the message takes a fresh one (see _wait_for_slot).
STALE_SLOT = datetime.timedelta(seconds=5)
# A send's claim and its accepted result: each single send stores both (accounts/row_writes.py).
_CLAIM = ("status", "attempts", "lease_expires_at", "dispatch_slot_at")
_SENT = ("status", "provider_message_id", "sent_at", "error_code", "error_message", "lease_expires_at")
_HELD = ("status", "dispatch_slot_at", "lease_expires_at")
WINDOW_CLOSED_TEXT = "Outside WhatsApp's 24-hour window: send an approved template."


@dataclass(frozen=True)
class DispatchResult:
    """What happened, and when to try again (``retry_in``: provider busy; ``wait``: rate limit)."""

    outcome: str  # sent / failed / skipped / busy / rate_limited / retry / held (outbound_gates)
    retry_in: float = 0.0

    @property
    def comes_back(self) -> bool:
        """Whether the message's task must run again, in ``retry_in`` s: a slot ahead, a retry, or a
        hold within the scheduling horizon (one past it is brought back by its lease instead)."""
        return self.outcome in ("rate_limited", "retry") or (self.outcome == "held" and self.retry_in > 0)


def deliver_message(message_id: int) -> DispatchResult:
    """Send one queued message (see the module docstring for the protocol)."""
    with message_lock(message_id) as held:
        if not held:
            return DispatchResult("busy")
        message = _QUEUED_MESSAGE.first(message_id=message_id)
        if message is None or message.direction != Message.Direction.OUTBOUND or message.status not in (
                Message.Status.QUEUED, Message.Status.SENDING):
            return DispatchResult("skipped")
        result = _deliver_locked(message)
    if result.outcome == "sent" and _notify(message):
        sent([message])  # outbound_gates' listener, once the lock is released
    return result


def _queued_message(message_id: int):
    # Ordered by pk, not Message's default (created_at): with the organisation's filter the scope
    # adds, a planner with stale statistics walked the organisation's rows for the sort.
    return (Message.objects.select_related("channel", "contact").defer(*_CONTACT_DETAILS)
            .filter(pk=message_id).order_by("pk")[:1])


def _deliver_locked(message: Message) -> DispatchResult:
    """Steps 3 to 5 for a queued or "sending" message whose lock this session holds."""
    if message.status == Message.Status.SENDING:
        settled = reconcile(message)
        if settled is not None:
            return settled
    refusal = _refusal(message)
    if refusal:
        _fail(message, *refusal)
        return DispatchResult("failed")
    verdict = verdicts([message]).get(message.pk)
    if verdict is not None and not isinstance(verdict, Notify):
        return _apply_verdict(message, verdict)
    message.notify_when_sent = verdict is not None
    channel = message.channel
    wait = _wait_for_slot(message)
    if wait > 0:
        return DispatchResult("rate_limited", wait)
    wait = admit(channel)
    if wait > 0:
        return DispatchResult("rate_limited", wait)
    message.status = Message.Status.SENDING
    message.attempts += 1
    message.lease_expires_at = timezone.now() + _lease(settings.MESSAGING_SEND_LEASE_SECONDS)
    save_fields(message, _CLAIM)
    result = backend_for(channel).send(channel_config(channel), outbound_of(message))
    return _record(message, result)


UNKNOWN_TEXT = ("This message's send was interrupted and {provider} could not confirm whether it went out "
                "({detail}). It was not sent again, so the patient gets it at most once: check the "
                "provider's message log, then answer here: it went out, send it again, or leave it unsent.")
# How far before its send slot an interrupted attempt may have begun (clocks of workers differ).
_CLOCK_MARGIN = datetime.timedelta(minutes=1)


def reconcile(message: Message) -> DispatchResult | None:
    """Settle a message found "sending" (an interrupted attempt) with its provider before any
    resend: the result if settled (found, unknown, or ask again later); None if sending is safe."""
    logger.warning("message %s is in doubt (an earlier attempt was interrupted): asking the provider",
                   message.pk)
    channel = message.channel
    backend = backend_for(channel)
    since = (message.dispatch_slot_at or message.created_at) - _CLOCK_MARGIN
    message.attempts += 1  # a look-up is a provider call too (MESSAGING_DISPATCH_MAX_ATTEMPTS bounds both)
    message.save(update_fields=["attempts"])
    lookup = backend.find_sent(channel_config(channel), outbound_of(message), sent_after=since)
    if lookup.outcome is SentLookupOutcome.FOUND:
        logger.info("message %s was accepted by the provider before the interruption: not sent again",
                    message.pk)
        found = SendResult(SendOutcome.ACCEPTED, provider_message_id=lookup.provider_message_id,
                           raw_status=lookup.raw_status)
        return _record(message, found)
    if lookup.outcome is SentLookupOutcome.NOT_FOUND:
        # Never reached the provider: an ordinary queued message again, stored so. Left "sending",
        # a message whose new slot lay ahead was asked about again at that slot, gave up the slot,
        # took a later one, and so on for ever: after a Redis restart interrupted a batch between
        # its claim and its sends, hundreds of them never went out.
        message.status = Message.Status.QUEUED
        message.dispatch_slot_at = None  # a new send takes a new slot: the channel's rate holds
        message.save(update_fields=["status", "dispatch_slot_at"])
        return None
    retries_left = message.attempts < settings.MESSAGING_DISPATCH_MAX_ATTEMPTS
    if lookup.outcome is SentLookupOutcome.RETRY_LATER and retries_left:
        delay = backoff_seconds(message.attempts, lookup.retry_after)
        message.lease_expires_at = timezone.now() + _lease(delay + settings.MESSAGING_SEND_LEASE_SECONDS)
        message.save(update_fields=["lease_expires_at"])
        return DispatchResult("retry", delay)
    mark_unknown(message, lookup.detail or "no answer")
    return DispatchResult("unknown")


def mark_unknown(message: Message, detail: str) -> None:
    """Park an interrupted send for staff: status ``unknown`` with the explanation; no lease, so
    no sweep picks it up again."""
    label = backend_for(message.channel).declaration.label
    message.status = Message.Status.UNKNOWN
    message.error_code = "unknown_check"
    message.error_message = UNKNOWN_TEXT.format(provider=label, detail=detail.rstrip("."))
    message.lease_expires_at = None
    message.save(update_fields=["status", "error_code", "error_message", "lease_expires_at"])


def _lease(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


def _wait_for_slot(message: Message) -> float:
    """Seconds until the message's send slot (0: send now). Reserves one if it has none."""
    now = timezone.now()
    if message.dispatch_slot_at is not None and message.dispatch_slot_at < now - STALE_SLOT:
        # Its task ran long after its slot (lost with a killed worker and re-delivered, with many
        # others): sending on every such old slot at once would burst past the channel's rate.
        message.dispatch_slot_at = None
    if message.dispatch_slot_at is None:
        channel = message.channel
        reservation = get_rate_limiter().reserve(channel.pk, channel.rate_limit_per_second)
        message.dispatch_slot_at = now + _lease(reservation.wait)
        if reservation.wait > 0:  # scheduled for later: the slot and its lease must survive this run
            lease = _lease(settings.MESSAGING_SEND_LEASE_SECONDS)
            message.lease_expires_at = message.dispatch_slot_at + lease
            message.save(update_fields=["dispatch_slot_at", "lease_expires_at"])
        return reservation.wait
    if message.dispatch_slot_at > now + SLOT_TOLERANCE:
        return (message.dispatch_slot_at - now).total_seconds()
    return 0.0


@dataclass(frozen=True, slots=True)
class Scheduled:
    """Where a batch's messages stand after ``schedule_batch``: (message id, seconds to its slot)."""

    slots: list[tuple[int, float]]


def schedule_batch(channel, message_ids: list[int]) -> Scheduled:
    """Reserve send slots for many queued messages of one channel in ONE limiter call.

    Messages that hold a slot already (a re-delivered batch task) keep it; finished or unknown
    ones are left out. Each message's slot and lease (slot + send lease) are stored in one
    statement, so a lost task is found by ``requeue_stalled_messages`` once its lease passes.
    """
    rows = list(Message.objects.filter(pk__in=message_ids, channel=channel,
                                       direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED)
                .only("pk", "organization_id", "dispatch_slot_at", "lease_expires_at").order_by("pk"))
    now = timezone.now()
    fresh = [m for m in rows if m.dispatch_slot_at is None]
    if fresh:
        reservation = get_rate_limiter().reserve(channel.pk, channel.rate_limit_per_second, len(fresh))
        lease = _lease(settings.MESSAGING_SEND_LEASE_SECONDS)
        for message, wait in zip(fresh, reservation.waits(), strict=True):
            message.dispatch_slot_at = now + _lease(wait)
            message.lease_expires_at = message.dispatch_slot_at + lease
        Message.objects.filter(pk__in=[m.pk for m in fresh]).update(
            dispatch_slot_at=ByPk({m.pk: m.dispatch_slot_at for m in fresh}, _field("dispatch_slot_at")),
            lease_expires_at=ByPk({m.pk: m.lease_expires_at for m in fresh}, _field("lease_expires_at")))
    return Scheduled([(m.pk, max(0.0, (m.dispatch_slot_at - now).total_seconds())) for m in rows])


def _field(name: str):
    return Message._meta.get_field(name)


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


def _notify(message: Message) -> bool:
    return getattr(message, "notify_when_sent", False)


def _apply_verdict(message: Message, verdict: Verdict) -> DispatchResult:
    """A higher app's say on its message (outbound_gates), before any claim. Held: queued, no slot,
    under a lease until then; its task scheduled for then if within MESSAGING_SCHEDULE_HORIZON_SECONDS
    ("held", wait), else left to the lease and requeue_stalled_messages ("held", 0)."""
    if not isinstance(verdict, Hold):
        _fail(message, verdict.code, verdict.text)
        return DispatchResult("failed")
    wait = max(0.0, (verdict.until - timezone.now()).total_seconds())
    scheduled = wait <= settings.MESSAGING_SCHEDULE_HORIZON_SECONDS
    message.status, message.dispatch_slot_at = Message.Status.QUEUED, None
    message.lease_expires_at = verdict.until + (_lease(settings.MESSAGING_SEND_LEASE_SECONDS) if scheduled
                                                else datetime.timedelta(0))
    save_fields(message, _HELD)
    return DispatchResult("held", max(wait, 0.05) if scheduled else 0.0)


def _record(message: Message, result: SendResult) -> DispatchResult:
    """Store the provider's answer; a retry keeps the message queued."""
    if result.outcome is SendOutcome.ACCEPTED:
        message.status = Message.Status.SENT
        message.provider_message_id = result.provider_message_id
        message.sent_at = timezone.now()
        message.error_code, message.error_message = "", None
        message.lease_expires_at = None
        save_fields(message, _SENT)
        return DispatchResult("sent")
    if result.outcome is SendOutcome.RETRY_LATER:
        if message.attempts >= settings.MESSAGING_DISPATCH_MAX_ATTEMPTS:
            _fail(message, result.error_code or "retries_exhausted",
                  f"The provider did not accept the message after {message.attempts} attempts (last answer: "
                  f"{result.error_message or 'no answer'}). Check the provider's status, then send it again.")
            return DispatchResult("failed")
        delay = backoff_seconds(message.attempts, result.retry_after)
        # No answer in time: the provider may have the message, so it stays "sending" and the retry
        # reconciles first. An HTTP 429/5xx answer, or a refused connection, means it was not taken.
        in_doubt = (result.http_status is None and result.error_code == "timeout"
                    and message.status == Message.Status.SENDING)
        message.status = Message.Status.SENDING if in_doubt else Message.Status.QUEUED
        message.error_code = (result.error_code or "retry")[:32]
        message.error_message = result.error_message or "The provider is busy; trying again shortly."
        # The retry is a new send: it takes a new slot when it runs; until then the retry task holds it.
        message.dispatch_slot_at = None
        message.lease_expires_at = timezone.now() + _lease(delay + settings.MESSAGING_SEND_LEASE_SECONDS)
        message.save(update_fields=["status", "error_code", "error_message", "dispatch_slot_at",
                                    "lease_expires_at"])
        return DispatchResult("retry", delay)
    if result.outcome is SendOutcome.OPTED_OUT:
        if message.contact is not None:
            set_consent(actor=Actor.system("message-dispatch", organization_id=message.organization_id),
                        contact=message.contact, channel=message.channel.kind, opted_in=False,
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
    message.lease_expires_at = None
    message.save(update_fields=["status", "failed_at", "error_code", "error_message", "lease_expires_at"])


# A send needs the patient's consent flags, never their details: a run does not decrypt those.
_CONTACT_DETAILS = tuple(f"contact__{name}" for name in (
    "first_name", "last_name", "phone", "email", "date_of_birth", "custom_values"))
# Every single send reads it: its SQL compiled once per process (accounts/prepared_query.py).
_QUEUED_MESSAGE = PreparedQuery(_queued_message, "message_id")


# --- many messages in one run ---------------------------------------------------------------------
@dataclass
class BatchDelivery:
    """What ``deliver_messages`` did: counts by outcome, and the messages to hand back one by one
    (id → seconds from now: their slot moved, or the provider asked to retry)."""

    outcomes: dict[str, int]
    later: dict[int, float]


def deliver_messages(channel, message_ids: list[int]) -> BatchDelivery:
    """Send many queued messages of one channel, each at its reserved slot, in one run.

    The same protocol as ``deliver_message`` with the database work batched: one statement
    locks them, one loads them, one claims the sendable ones ("sending", attempts + 1, a lease
    covering the batch) before any provider call, and one stores every accepted send. Anything
    unusual — a message found "sending" (reconciled first), a refusal, a provider error — takes
    the single-message path for that message alone.
    """
    outcomes: dict[str, int] = {}
    later: dict[int, float] = {}

    def count(outcome: str, n: int = 1) -> None:
        outcomes[outcome] = outcomes.get(outcome, 0) + n

    with message_locks(message_ids) as held:
        count("busy", len(set(message_ids) - held))
        messages = list(Message.objects.select_related("contact").defer(*_CONTACT_DETAILS)
                        .filter(pk__in=held, channel=channel, direction=Message.Direction.OUTBOUND,
                                status__in=(Message.Status.QUEUED, Message.Status.SENDING))
                        .order_by("dispatch_slot_at", "pk"))
        count("skipped", len(held) - len(messages))
        gated = verdicts([m for m in messages if m.status == Message.Status.QUEUED])
        fresh, went = [], []
        for message in messages:
            message.channel = channel  # the run's own channel (the filter says so): not read per row
            if message.status == Message.Status.SENDING:  # in doubt: the single path reconciles it
                result = _deliver_locked(message)
                count(result.outcome)
                if result.outcome == "sent":
                    went.append(message)
                if result.comes_back:
                    later[message.pk] = result.retry_in
            elif refusal := _refusal(message):
                _fail(message, *refusal)
                count("failed")
            elif message.pk in gated and not isinstance(gated[message.pk], Notify):
                result = _apply_verdict(message, gated[message.pk])
                count(result.outcome)
                if result.comes_back:
                    later[message.pk] = result.retry_in
            else:
                message.notify_when_sent = message.pk in gated
                fresh.append(message)
        if fresh:
            went += _send_claimed(channel, _claim(fresh), count, later)
    sent([m for m in went if _notify(m)])  # outbound_gates' listener, once the locks are released
    return BatchDelivery(outcomes, later)


def _claim(messages: list[Message]) -> list[Message]:
    """Mark the batch "sending" in one statement, before any provider call (the durable marker)."""
    now = timezone.now()
    last_slot = max((m.dispatch_slot_at or now for m in messages), default=now)
    lease = max(last_slot, now) + _lease(settings.MESSAGING_SEND_LEASE_SECONDS)
    Message.objects.filter(pk__in=[m.pk for m in messages], status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease)
    for message in messages:
        message.status, message.attempts, message.lease_expires_at = (
            Message.Status.SENDING, message.attempts + 1, lease)
    return messages


def _send_claimed(channel, messages: list[Message], count, later: dict[int, float]) -> list[Message]:
    backend, config = backend_for(channel), channel_config(channel)
    accepted: list[tuple[Message, SendResult]] = []
    allowance = SendAllowance(channel)
    for index, message in enumerate(messages):
        wait = _until_slot(message)
        if wait <= 0:
            wait = allowance.take(len(messages) - index)  # the rest of the batch, at most
        if wait > 0:  # its turn is not now after all: back to the queue, nothing was sent
            _unclaim(message)
            later[message.pk] = wait
            count("rate_limited")
            continue
        result = backend.send(config, outbound_of(message))
        if result.outcome is SendOutcome.ACCEPTED:
            accepted.append((message, result))
            continue
        outcome = _record(message, result)
        count(outcome.outcome)
        if outcome.outcome == "retry":
            later[message.pk] = outcome.retry_in
    _record_accepted(accepted)
    count("sent", len(accepted))
    return [message for message, _ in accepted]


def _until_slot(message: Message) -> float:
    """Wait (in this worker) for a slot up to ``ADMIT_WAIT_SECONDS`` ahead; the rest is rescheduled."""
    if message.dispatch_slot_at is None:
        return 0.0
    ahead = (message.dispatch_slot_at - timezone.now()).total_seconds()
    if ahead <= SLOT_TOLERANCE.total_seconds():
        return 0.0
    if ahead > ADMIT_WAIT_SECONDS:
        return ahead
    time.sleep(ahead)
    return 0.0


def _unclaim(message: Message) -> None:
    message.status = Message.Status.QUEUED
    message.attempts -= 1  # no provider call was made
    message.dispatch_slot_at = None  # it takes a new slot when it runs
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED, attempts=F("attempts") - 1, dispatch_slot_at=None)


def _record_accepted(accepted: list[tuple[Message, SendResult]]) -> None:
    """Store every accepted send of the batch: one statement (each its own provider id)."""
    if not accepted:
        return
    now = timezone.now()
    Message.objects.filter(pk__in=[m.pk for m, _ in accepted]).update(
        status=Message.Status.SENT, sent_at=now, error_code="", error_message=None, lease_expires_at=None,
        provider_message_id=ByPk({m.pk: r.provider_message_id or "" for m, r in accepted},
                                 _field("provider_message_id")))
    for message, result in accepted:
        message.status, message.provider_message_id, message.sent_at = (
            Message.Status.SENT, result.provider_message_id, now)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; never sooner than the provider's Retry-After."""
    base = settings.MESSAGING_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    delay = min(settings.MESSAGING_RETRY_MAX_SECONDS, base)
    delay = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)
