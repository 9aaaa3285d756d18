"""Celery tasks of messaging. They take ids only (never bodies or phone numbers), run in
the organisation's scope (OrgTask), are acked late, and are safe to run twice.
"""

from __future__ import annotations

import datetime
import logging
import time

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.prepared_query import PreparedQuery
from accounts.tenancy import OrgTask
from messaging.inbound import InboundEvent, offer_to_handlers
from messaging.models import Channel, Message
from messaging.services.dispatch import deliver_message, deliver_messages, schedule_batch

logger = logging.getLogger(__name__)

# Messages stored before leases existed (lease_expires_at empty): queued this long counts as stalled.
STALLED_AFTER = datetime.timedelta(minutes=10)
# Embedded mode runs tasks inside the request: how long a send may wait there for a retry/slot.
EAGER_WAIT_BUDGET_SECONDS = 5.0


# max_retries is only Celery's ceiling: MESSAGING_DISPATCH_MAX_ATTEMPTS is the real limit (it counts
# provider calls, not task runs, and survives a worker crash because it is stored on the message).
@shared_task(base=OrgTask, bind=True, name="messaging.dispatch_message", acks_late=True, max_retries=1000)
def dispatch_message(self, *, org_id: int, message_id: int) -> str:
    """Send one queued message (messaging.services.dispatch explains the exactly-once protocol).

    Provider busy/down: retry with exponential backoff and jitter (honouring Retry-After) until
    MESSAGING_DISPATCH_MAX_ATTEMPTS, then the message fails with a clear error. Its send slot
    still ahead: the task is scheduled once for that time (the slot is stored, so that run sends).
    """
    waited = 0.0
    while True:
        result = deliver_message(message_id)
        if not result.comes_back:
            return result.outcome
        if self.request.is_eager:
            # Embedded mode (no broker): wait in-process, but never hold a web request long;
            # past the budget the message stays queued for requeue_stalled_messages.
            if waited + result.retry_in > EAGER_WAIT_BUDGET_SECONDS:
                return result.outcome
            time.sleep(result.retry_in)
            waited += result.retry_in
            continue
        if result.outcome != "retry":  # a slot or a hold: scheduled once for then
            dispatch_message.apply_async(kwargs={"org_id": org_id, "message_id": message_id},
                                         countdown=result.retry_in)
            return result.outcome
        raise self.retry(countdown=result.retry_in)


@shared_task(base=OrgTask, bind=True, name="messaging.dispatch_batch", acks_late=True)
def dispatch_batch(self, *, org_id: int, channel_id: int, message_ids: list[int]) -> int:
    """Reserve send slots for many queued messages of one channel (one limiter call) and schedule
    them once, for their slots: runs of slots within a second as one ``send_batch`` task, a lone
    message as its ``dispatch_message``.

    Slots beyond MESSAGING_SCHEDULE_HORIZON_SECONDS are stored but not yet scheduled: Celery
    keeps an ETA task in the worker's memory, and Redis re-delivers one unacknowledged past its
    visibility timeout. This task comes back once, shortly before the first of them is due.
    Returns how many messages it scheduled now.
    """
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return 0
    horizon = float(settings.MESSAGING_SCHEDULE_HORIZON_SECONDS)
    later: list[tuple[int, float]] = []
    soon: list[tuple[int, float]] = []
    for message_id, wait in schedule_batch(channel, message_ids).slots:
        (later if wait > horizon else soon).append((message_id, wait))
    for run in send_runs(soon, settings.MESSAGING_SEND_BATCH_SIZE):
        first_wait = run[0][1]
        if len(run) == 1:
            dispatch_message.apply_async(kwargs={"org_id": org_id, "message_id": run[0][0]},
                                         countdown=first_wait or None)
        else:
            send_batch.apply_async(kwargs={"org_id": org_id, "channel_id": channel_id,
                                           "message_ids": [m for m, _ in run]}, countdown=first_wait or None)
    scheduled = len(soon)
    if later and not self.request.is_eager:  # embedded mode: their leases bring them back
        dispatch_batch.apply_async(
            kwargs={"org_id": org_id, "channel_id": channel_id, "message_ids": [m for m, _ in later]},
            countdown=max(1.0, later[0][1] - horizon / 2))
    return scheduled


# Slots within this of a run's first go together: the worker waits for each in-process.
SEND_RUN_SPAN_SECONDS = 1.0


def send_runs(slots: list[tuple[int, float]], size: int) -> list[list[tuple[int, float]]]:
    """(message id, wait) in slot order, cut into runs of at most ``size`` spanning at most a second."""
    runs: list[list[tuple[int, float]]] = []
    for slot in sorted(slots, key=lambda s: (s[1], s[0])):
        if runs and len(runs[-1]) < size and slot[1] - runs[-1][0][1] <= SEND_RUN_SPAN_SECONDS:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    return runs


@shared_task(base=OrgTask, bind=True, name="messaging.send_batch", acks_late=True)
def send_batch(self, *, org_id: int, channel_id: int, message_ids: list[int]) -> int:
    """Send a run of queued messages of one channel (``deliver_messages``); each message that
    cannot go now (slot moved, provider busy) is handed to its own ``dispatch_message``.

    Redelivered after a worker died: the messages it had claimed are "sending" and are
    reconciled with the provider before anything is sent again. Returns how many were sent.
    """
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return 0
    delivery = deliver_messages(channel, message_ids)
    for message_id, wait in delivery.later.items():
        dispatch_message.apply_async(kwargs={"org_id": org_id, "message_id": message_id},
                                     countdown=wait or None)
    return delivery.outcomes.get("sent", 0)


@shared_task(base=OrgTask, bind=True, name="messaging.run_inbound_handlers", acks_late=True)
def run_inbound_handlers(self, *, org_id: int, message_id: int) -> int:
    """Offer a stored inbound message to the registered handlers (campaigns, intake bot)."""
    message = _INBOUND_EVENT_MESSAGE.first(message_id=message_id)
    if message is None:
        return 0
    keyword = (message.payload or {}).get("keyword")
    event = InboundEvent(organization_id=org_id, channel_id=message.channel_id, message_id=message.pk,
                         conversation_id=message.conversation_id, contact_id=message.contact_id,
                         keyword=keyword)
    return offer_to_handlers(event)


# What the event needs (the keyword is in the payload; the body is the handlers' to read): a pk
# lookup, never a sort by created_at (see dispatch.py). Compiled once per process: compiling it
# was a tenth of an intake answer's task.
_INBOUND_EVENT_MESSAGE = PreparedQuery(
    lambda message_id: Message.objects.filter(pk=message_id, direction=Message.Direction.INBOUND)
    .only("pk", "organization_id", "channel_id", "conversation_id", "contact_id", "payload")
    .order_by("pk")[:1],
    "message_id")


def enqueue_inbound_handlers(organization_id: int, message_id: int) -> None:
    """Queue ``run_inbound_handlers`` (called on commit of the webhook's transaction)."""
    run_inbound_handlers.delay(org_id=organization_id, message_id=message_id)


@shared_task(name="messaging.requeue_stalled_messages")
def requeue_stalled_messages() -> int:
    """Hand unfinished sends whose lease expired to Celery again.

    Stalled means nobody holds the message any more — its hand-off never reached the broker,
    its scheduled task was lost, or the worker sending it died — never that it is old: a
    campaign message waiting two hours for its send slot holds a lease until that slot. Rows
    from before leases fall back to age. Ops code spanning organisations, so it reads
    unscoped; each dispatch runs in its own organisation's scope. Safe to overlap with live
    tasks: dispatch is idempotent. Celery beat runs it every 5 minutes (CELERY_BEAT_SCHEDULE).
    """
    now = timezone.now()
    lost = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, status=Message.Status.QUEUED,
                                           created_at__lt=now - STALLED_AFTER)
    with scopes_disabled():  # ops sweep across organisations: ids only, no PHI read
        stalled = list(Message.objects.filter(lost, direction=Message.Direction.OUTBOUND,
                                              status__in=[Message.Status.QUEUED, Message.Status.SENDING])
                       .values_list("organization_id", "pk")[:1000])
        # The requeued task holds them now: a broker still down is not met with a requeue every sweep.
        Message.objects.filter(pk__in=[pk for _, pk in stalled]).update(
            lease_expires_at=now + datetime.timedelta(seconds=settings.MESSAGING_HANDOFF_LEASE_SECONDS))
    for organization_id, message_id in stalled:
        dispatch_message.delay(org_id=organization_id, message_id=message_id)
    if stalled:
        logger.info("requeued %s stalled messages", len(stalled))
    return len(stalled)
