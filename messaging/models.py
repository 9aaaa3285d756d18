"""Channels: an organisation's senders. Conversations and messages build on these."""

from __future__ import annotations

import secrets

from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedCharField, EncryptedJSONField


class Channel(models.Model):
    """An organisation's sender on one provider (a phone number, WhatsApp number or service)."""

    class Provider(models.TextChoices):
        SIMULATOR = "simulator", "Simulator (built in)"
        TWILIO = "twilio", "Twilio"
        TELNYX = "telnyx", "Telnyx"
        WHATSAPP_CLOUD = "whatsapp_cloud", "WhatsApp Cloud API"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="channels")
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=32, choices=Provider.choices, default=Provider.SIMULATOR)
    address = models.CharField(
        max_length=64,
        help_text="Phone number (E.164), WhatsApp phone-number id or Messaging Service SID",
    )
    # Provider credentials are secrets and encrypted like PHI.
    credentials = EncryptedJSONField(default=dict, blank=True)
    webhook_secret = EncryptedCharField(max_length=256, blank=True, null=True)
    rate_limit_per_second = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    @staticmethod
    def new_webhook_secret() -> str:
        return secrets.token_urlsafe(32)
