"""Webhook deliveries run on a Celery queue of their own (``webhooks``): a slow partner
never delays a patient's message. Tasks take ids; a lost task is picked up by the sweep."""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError

from accounts.tenancy import OrgTask

logger = logging.getLogger(__name__)
QUEUE = "webhooks"


def enqueue_delivery(organization_id: int, delivery_id: int, countdown: float = 0) -> None:
    """Hand a delivery to the webhooks queue; with the broker down the sweep sends it later."""
    try:
        deliver_webhook.apply_async(kwargs={"org_id": organization_id, "delivery_id": delivery_id},
                                    queue=QUEUE, countdown=countdown)
    except OperationalError:
        logger.warning("broker unavailable: webhook delivery %s waits for the sweep", delivery_id)


@shared_task(base=OrgTask, name="accounts.deliver_webhook")
def deliver_webhook(*, org_id: int, delivery_id: int) -> str:
    from accounts.event_webhooks.services import attempt_delivery

    return attempt_delivery(delivery_id)


@shared_task(name="accounts.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    """Re-queue every due delivery whose task was lost (broker outage, worker crash)."""
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from accounts.event_webhooks.models import WebhookDelivery

    with scopes_disabled():  # ops sweep across organisations: ids only leave this block
        due = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                                  next_attempt_at__lte=timezone.now())
                   .values_list("organization_id", "pk")[:5000])
    for organization_id, delivery_id in due:
        enqueue_delivery(organization_id, delivery_id)
    return len(due)
