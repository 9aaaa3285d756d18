"""Webhook endpoints: register, rotate the secret, switch off/on, delete, redeliver — and the
delivery attempt itself (``attempt_delivery``), which the webhooks queue runs."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.event_webhooks import delivery as wire
from accounts.event_webhooks.events import event_types
from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint
from accounts.roles import Perm
from audit import AuditAction

ROTATION_OVERLAP = timedelta(hours=24)
# Claimed attempts block a second worker for this long (longer than any attempt can take).
ATTEMPT_LEASE = timedelta(seconds=60)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _clean(url: str, types: list[str]) -> tuple[str, list[str]]:
    url = (url or "").strip()
    parts = urlsplit(url)
    loopback_ok = getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", False)
    if parts.scheme != "https" and not (loopback_ok and parts.scheme == "http"):
        raise ValidationError({"url": "Use an https:// address (webhooks carry patient events)."})
    if not parts.hostname or len(url) > 500:
        raise ValidationError({"url": "Give a full https:// URL of at most 500 characters."})
    types = sorted(set(types or []))
    unknown = [t for t in types if t not in event_types()]
    if not types or unknown:
        raise ValidationError({"event_types": "Choose at least one of the listed events."})
    return url, types


@transaction.atomic
def create_endpoint(*, actor: Actor, url: str, event_types: list[str], description: str = "",
                    include_phi: bool = False) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown to the admin once)."""
    actor.require(Perm.WEBHOOKS_MANAGE)
    url, types = _clean(url, event_types)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization_id=actor.organization_id, url=url, event_types=types, secret=secret,
        description=(description or "").strip()[:100], include_phi=include_phi, created_by_id=actor.user_id)
    audit.record(AuditAction.WEBHOOK_ENDPOINT_CREATED, target=endpoint, actor=actor,
                 detail={"events": types, "include_phi": include_phi})
    return endpoint, secret


def _endpoint(actor: Actor, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    actor.require(Perm.WEBHOOKS_MANAGE)
    queryset = WebhookEndpoint.objects.filter(organization_id=actor.organization_id)
    return (queryset.select_for_update() if lock else queryset).get(pk=endpoint_id)


@transaction.atomic
def rotate_secret(*, actor: Actor, endpoint_id: int) -> str:
    """A new secret; the old one keeps signing beside it for ROTATION_OVERLAP."""
    endpoint = _endpoint(actor, endpoint_id, lock=True)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit.record(AuditAction.WEBHOOK_ENDPOINT_CHANGED, target=endpoint, actor=actor,
                 detail={"change": "secret_rotated"})
    return endpoint.secret


@transaction.atomic
def set_endpoint_active(*, actor: Actor, endpoint_id: int, active: bool) -> WebhookEndpoint:
    endpoint = _endpoint(actor, endpoint_id, lock=True)
    endpoint.is_active, endpoint.disabled_reason = active, "" if active else "switched off by an admin"
    endpoint.save(update_fields=["is_active", "disabled_reason"])
    audit.record(AuditAction.WEBHOOK_ENDPOINT_CHANGED, target=endpoint, actor=actor,
                 detail={"change": "enabled" if active else "disabled"})
    return endpoint


@transaction.atomic
def delete_endpoint(*, actor: Actor, endpoint_id: int) -> None:
    endpoint = _endpoint(actor, endpoint_id, lock=True)
    audit.record(AuditAction.WEBHOOK_ENDPOINT_CHANGED, target=endpoint, actor=actor,
                 detail={"change": "deleted"})
    endpoint.delete()


@transaction.atomic
def redeliver(*, actor: Actor, delivery_id: int) -> WebhookDelivery:
    """Send a logged delivery again now (same webhook-id: receivers can tell it is the same event)."""
    actor.require(Perm.WEBHOOKS_MANAGE)
    item = (WebhookDelivery.objects.select_for_update()
            .get(pk=delivery_id, organization_id=actor.organization_id))
    item.status, item.next_attempt_at = WebhookDelivery.Status.PENDING, timezone.now()
    item.save(update_fields=["status", "next_attempt_at"])
    audit.record(AuditAction.WEBHOOK_ENDPOINT_CHANGED, target=item.endpoint, actor=actor,
                 detail={"change": "redelivered", "delivery_id": item.pk})
    from accounts.event_webhooks.tasks import enqueue_delivery

    transaction.on_commit(lambda: enqueue_delivery(item.organization_id, item.pk))
    return item


def _signing_secrets(endpoint: WebhookEndpoint, now) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for one attempt (None: done, not due, or another worker has it)."""
    now = timezone.now()
    with transaction.atomic():
        item = (WebhookDelivery.objects.select_for_update(skip_locked=True).select_related("endpoint")
                .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).first())
        if item is None or (item.next_attempt_at and item.next_attempt_at > now):
            return None
        WebhookDelivery.objects.filter(pk=item.pk).update(next_attempt_at=now + ATTEMPT_LEASE,
                                                          last_attempt_at=now)
    return item


def attempt_delivery(delivery_id: int) -> str:
    """One attempt of one delivery; schedules the next or gives up (see delivery.RETRY_DELAYS)."""
    item = _claim(delivery_id)
    if item is None:
        return "skipped"
    endpoint = item.endpoint
    if not endpoint.is_active:
        WebhookDelivery.objects.filter(pk=item.pk).update(status=WebhookDelivery.Status.FAILED,
                                                          last_error="endpoint switched off")
        return "endpoint_off"
    now = timezone.now()
    body = wire.body_of(item.payload)
    attempt = wire.post(endpoint.url, wire.headers_for(_signing_secrets(endpoint, now), item.event_id,
                                                        now, body), body)
    item.attempts += 1
    item.last_status_code, item.last_error = attempt.status_code, attempt.error[:200]
    item.last_response_excerpt = attempt.excerpt or None
    fields = ["attempts", "last_status_code", "last_error", "last_response_excerpt", "status",
              "next_attempt_at", "delivered_at"]
    if attempt.ok:
        item.status, item.next_attempt_at, item.delivered_at = WebhookDelivery.Status.SUCCEEDED, None, now
        item.save(update_fields=fields)
        return "delivered"
    delay = wire.next_delay(item.attempts)
    if delay is not None:
        item.next_attempt_at = now + delay
        item.save(update_fields=fields)
        from accounts.event_webhooks.tasks import enqueue_delivery

        enqueue_delivery(item.organization_id, item.pk, countdown=delay.total_seconds())
        return "retry"
    item.status, item.next_attempt_at = WebhookDelivery.Status.FAILED, None
    item.save(update_fields=fields)
    _disable_if_failing(endpoint, item)
    return "failed"


def _disable_if_failing(endpoint: WebhookEndpoint, failed: WebhookDelivery) -> None:
    """Sustained failure — a delivery failed every attempt over ~24 hours and nothing got through
    since it was created — switches the endpoint off and tells the organisation's admins."""
    if WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.SUCCEEDED,
                                      delivered_at__gte=failed.created_at).exists():
        return
    reason = "switched off after a day of failed deliveries"
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_reason=reason)
    if not updated:
        return
    audit.record(AuditAction.WEBHOOK_ENDPOINT_DISABLED, target=endpoint, actor=None,
                 detail={"delivery_id": failed.pk, "attempts": failed.attempts})
    _tell_admins(endpoint)


def _tell_admins(endpoint: WebhookEndpoint) -> None:
    from accounts.models import Membership
    from accounts.roles import Role

    recipients = list(Membership.objects.filter(organization_id=endpoint.organization_id,
                                                role__in=[Role.OWNER, Role.ADMIN])
                      .values_list("user__email", flat=True))
    if recipients:
        send_mail(
            "CareRelay: a webhook endpoint was switched off",
            f"Deliveries to your webhook endpoint #{endpoint.pk} failed for about a day, so CareRelay "
            "switched it off. Fix the receiving system, then switch the endpoint on again under "
            "Settings → Webhooks (failed deliveries can be sent again from its delivery log).",
            None, recipients)
