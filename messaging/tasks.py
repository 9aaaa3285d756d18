"""Celery tasks of messaging. They take ids only (never bodies or phone numbers), run in
the organisation's scope (OrgTask), are acked late, and are safe to run twice.
"""

from __future__ import annotations

import datetime
import logging
import time

from celery import shared_task
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.tenancy import OrgTask
from messaging.inbound import InboundEvent, offer_to_handlers
from messaging.models import Message
from messaging.services.dispatch import deliver_message

logger = logging.getLogger(__name__)

# Queued messages older than this with no task in flight are handed to Celery again.
STALLED_AFTER = datetime.timedelta(minutes=10)
# Embedded mode runs tasks inside the request: how long a send may wait there for a retry/slot.
EAGER_WAIT_BUDGET_SECONDS = 5.0


# max_retries is only Celery's ceiling: MESSAGING_DISPATCH_MAX_ATTEMPTS is the real limit (it counts
# provider calls, not task runs, and survives a worker crash because it is stored on the message).
@shared_task(base=OrgTask, bind=True, name="messaging.dispatch_message", acks_late=True, max_retries=1000)
def dispatch_message(self, *, org_id: int, message_id: int) -> str:
    """Send one queued message (messaging.services.dispatch explains the exactly-once protocol).

    Provider busy/down: retry with exponential backoff and jitter (honouring Retry-After) until
    MESSAGING_DISPATCH_MAX_ATTEMPTS, then the message fails with a clear error. Over the channel's
    rate limit: the task re-schedules itself with a countdown instead of sleeping in the worker.
    """
    waited = 0.0
    while True:
        result = deliver_message(message_id)
        if result.outcome not in ("rate_limited", "retry"):
            return result.outcome
        if self.request.is_eager:
            # Embedded mode (no broker): wait in-process, but never hold a web request long;
            # past the budget the message stays queued for requeue_stalled_messages.
            if waited + result.retry_in > EAGER_WAIT_BUDGET_SECONDS:
                return result.outcome
            time.sleep(result.retry_in)
            waited += result.retry_in
            continue
        if result.outcome == "rate_limited":
            dispatch_message.apply_async(kwargs={"org_id": org_id, "message_id": message_id},
                                         countdown=result.retry_in)
            return result.outcome
        raise self.retry(countdown=result.retry_in)


@shared_task(base=OrgTask, bind=True, name="messaging.run_inbound_handlers", acks_late=True)
def run_inbound_handlers(self, *, org_id: int, message_id: int) -> int:
    """Offer a stored inbound message to the registered handlers (campaigns, intake bot)."""
    message = Message.objects.filter(pk=message_id, direction=Message.Direction.INBOUND).first()
    if message is None:
        return 0
    keyword = (message.payload or {}).get("keyword")
    event = InboundEvent(organization_id=org_id, channel_id=message.channel_id, message_id=message.pk,
                         conversation_id=message.conversation_id, contact_id=message.contact_id,
                         keyword=keyword)
    return offer_to_handlers(event)


def enqueue_inbound_handlers(organization_id: int, message_id: int) -> None:
    """Queue ``run_inbound_handlers`` (called on commit of the webhook's transaction)."""
    run_inbound_handlers.delay(org_id=organization_id, message_id=message_id)


@shared_task(name="messaging.requeue_stalled_messages")
def requeue_stalled_messages() -> int:
    """Hand queued messages that lost their task (broker down at commit) to Celery again.

    Ops code spanning organisations, so it reads unscoped; each dispatch runs in its own
    organisation's scope. Safe to overlap with live tasks: dispatch is idempotent.
    Celery beat runs it every 5 minutes (CELERY_BEAT_SCHEDULE in config/settings.py).
    """
    cutoff = timezone.now() - STALLED_AFTER
    with scopes_disabled():  # ops sweep across organisations: ids only, no PHI read
        stalled = list(Message.objects.filter(direction=Message.Direction.OUTBOUND,
                                              status=Message.Status.QUEUED, created_at__lt=cutoff)
                       .values_list("organization_id", "pk")[:1000])
    for organization_id, message_id in stalled:
        dispatch_message.delay(org_id=organization_id, message_id=message_id)
    if stalled:
        logger.info("requeued %s stalled messages", len(stalled))
    return len(stalled)
