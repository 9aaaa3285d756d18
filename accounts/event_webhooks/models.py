"""Webhook endpoints an organisation registered, and every delivery made to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedCharField, EncryptedJSONField


class WebhookEndpoint(models.Model):
    """An HTTPS URL of a partner's, with the events it wants and the secret that signs them."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=100, blank=True)
    event_types = models.JSONField(default=list)
    # whsec_… (Standard Webhooks). After a rotation the previous one also signs until it expires.
    secret = EncryptedCharField(max_length=100)
    previous_secret = EncryptedCharField(max_length=100, null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Ids only (no names, phones or message text) in this endpoint's payloads.
    include_phi = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Webhook endpoint #{self.pk}"


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint; the delivery log's rows."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # webhook-id: the same for every attempt (receivers de-duplicate on it).
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=64)
    payload = EncryptedJSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # What went wrong, in our words (timeout, refused address, HTTP 500) — never their body.
    last_error = models.CharField(max_length=200, blank=True)
    # At most 1 kB of the partner's answer, encrypted: it may echo what we sent.
    last_response_excerpt = EncryptedCharField(max_length=1024, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"],
                                               name="webhook_delivery_once_per_endpoint")]

    def __str__(self) -> str:
        return f"Webhook delivery #{self.pk} ({self.status})"


def _endpoint_changed(sender, instance, **kwargs) -> None:
    # This process sees the change at once; others within events.SUBSCRIPTION_CACHE_SECONDS.
    from accounts.event_webhooks.events import forget_subscriptions

    forget_subscriptions(instance.organization_id)


models.signals.post_save.connect(_endpoint_changed, sender=WebhookEndpoint,
                                 dispatch_uid="webhook-endpoint-saved")
models.signals.post_delete.connect(_endpoint_changed, sender=WebhookEndpoint,
                                   dispatch_uid="webhook-endpoint-deleted")
