"""Channels, conversations and messages.

Every model here is tenant-owned (organization + django-scopes). Message bodies, media
links, provider error texts and channel credentials are encrypted columns.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedCharField, EncryptedJSONField, EncryptedTextField
from messaging.providers import ProviderDeclaration, UnknownProviderError, declaration_of, is_registered
from messaging.providers.registry import default_provider_key


def validate_provider_key(value: str) -> None:
    """A channel's provider is a key some backend registered (no model choices: adding a provider
    is adding one module under messaging/providers/, never a migration)."""
    if not is_registered(value):
        raise ValidationError("Choose one of the providers CareRelay offers.", code="unknown_provider")


class Channel(models.Model):
    """An organisation's sender on one provider (a phone number, WhatsApp number or service)."""

    class Kind(models.TextChoices):
        SMS = "sms", "SMS"
        WHATSAPP = "whatsapp", "WhatsApp"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="channels")
    name = models.CharField(max_length=100)
    # The key of a registered provider backend (messaging.providers), validated against the registry.
    provider = models.CharField(max_length=32, default=default_provider_key,
                                validators=[validate_provider_key])
    # What the patient sees this channel as: SMS, or WhatsApp (whatsapp_cloud, or Twilio's
    # `whatsapp:` senders). Consent, keywords and the 24-hour window follow the kind.
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SMS)
    address = models.CharField(
        max_length=64,
        help_text="Phone number (E.164), WhatsApp phone-number id or Messaging Service SID",
    )
    # Names the channel in webhook URLs; random so URLs can't be enumerated.
    webhook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Provider credentials are secrets and encrypted like PHI.
    credentials = EncryptedJSONField(default=dict, blank=True)
    # Twilio auth token / Meta app secret / simulator HMAC secret, or Telnyx's public key.
    webhook_secret = EncryptedCharField(max_length=256, blank=True, null=True)
    rate_limit_per_second = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False, help_text="Used for replies and one-time codes")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_label})"

    @property
    def declaration(self) -> ProviderDeclaration:
        """What the channel's provider declares (credentials, address rules, set-up text)."""
        return declaration_of(self.provider)

    @property
    def provider_label(self) -> str:
        """The provider's display name ("Twilio"); the key itself if no backend is registered."""
        try:
            return self.declaration.label
        except UnknownProviderError:
            return self.provider

    @staticmethod
    def new_webhook_secret() -> str:
        return secrets.token_urlsafe(32)


class MessagingSettings(models.Model):
    """An organisation's automatic replies (HELP text, STOP/START confirmations)."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE,
                                        related_name="messaging_settings")
    help_reply = models.TextField(
        default="{org}: for help call the clinic. Reply STOP to opt out. Msg&data rates may apply."
    )
    stop_reply = models.TextField(
        default="{org}: you are unsubscribed and will receive no more messages. Reply START to resubscribe."
    )
    start_reply = models.TextField(
        default="{org}: you are subscribed again. Reply HELP for help, STOP to opt out."
    )

    objects = ScopedManager(organization="organization")

    def __str__(self) -> str:
        return f"Messaging settings #{self.pk}"


class Conversation(models.Model):
    """A thread between the organisation (one channel) and one contact."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    unread_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Opens WhatsApp's 24-hour customer-service window.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "contact"], condition=models.Q(status="open"),
                name="conversation_one_open_per_channel_contact",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-last_message_at"], name="conv_inbox_idx"),
            models.Index(fields=["organization", "assigned_to", "status"], name="conv_assignee_idx"),
        ]
        ordering = ["-last_message_at", "-pk"]

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"


class Message(models.Model):
    """One message in or out. The body is PHI: encrypted, never logged."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        # Outbound life cycle (provider statuses normalised, PROVIDERS.md §4).
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        UNDELIVERED = "undelivered", "Undelivered"
        # A send interrupted (crash, timeout) that the provider could not confirm either way:
        # never resent blindly; staff check with the provider (messaging.services.dispatch).
        UNKNOWN = "unknown", "Unknown — check with the provider"
        # Inbound.
        RECEIVED = "received", "Received"

    class Origin(models.TextChoices):
        STAFF = "staff", "Staff reply"
        AUTO_REPLY = "auto_reply", "Automatic reply (keywords)"
        CAMPAIGN = "campaign", "Campaign"
        INTAKE = "intake", "Intake bot"
        ONE_TIME_CODE = "otp", "Sign-in code"
        TEST = "test", "Test message"
        API = "api", "API"
        PATIENT = "patient", "Patient"

    # No single-column indexes on these three: message_status_idx, message_thread_idx and
    # message_remote_idx lead with them, and every index is paid on each of the millions of
    # inserts (webhooks, campaigns).
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+",
                                     db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages",
                                     null=True, blank=True, db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages", db_index=False)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="messages",
                                null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    # The other party's address (E.164 or WhatsApp id) as it was at send/receive time; a
    # one-time code to a staff member has no contact, and contacts change numbers.
    remote_address = EncryptedCharField(max_length=64, blank=True, null=True)
    remote_address_index = models.CharField(max_length=64, blank=True, default="")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    body = EncryptedTextField(blank=True, null=True)
    # Media links and, for WhatsApp templates/interactive messages, their parameters.
    payload = EncryptedJSONField(default=dict, blank=True)
    template_name = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    segments = models.PositiveSmallIntegerField(default=0)
    encoding = models.CharField(max_length=8, blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    # Provider error code and text (the text can echo a number back: encrypted).
    error_code = models.CharField(max_length=32, blank=True)
    error_message = EncryptedTextField(blank=True, null=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    # The caller's key for an outbound message (a campaign's "campaign-7-contact-42", an API
    # client's Idempotency-Key): unique per channel, so queuing it again stores nothing new.
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    # The send time the channel's rate limiter reserved for this message (None: not yet).
    dispatch_slot_at = models.DateTimeField(null=True, blank=True)
    # Until when the message is accounted for by a hand-off, a scheduled task or a worker's
    # claim; a queued/sending message past its lease lost its task ("stalled") and is requeued.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            # Providers retry webhooks: the provider's id makes inbound storage idempotent.
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], condition=~models.Q(provider_message_id=""),
                name="message_unique_provider_id",
            ),
            models.UniqueConstraint(
                fields=["channel", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                name="message_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_thread_idx"),
            models.Index(fields=["organization", "status"], name="message_status_idx"),
            models.Index(fields=["channel", "remote_address_index"], name="message_remote_idx"),
            # The stalled-send sweep: only unfinished outbound messages carry a lease.
            models.Index(fields=["lease_expires_at"], name="message_lease_idx",
                         condition=models.Q(status__in=["queued", "sending"])),
        ]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Message #{self.pk} ({self.direction}, {self.status})"


class DeliveryReceipt(models.Model):
    """A status webhook already applied (dedupe key per provider), so retries change nothing."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    dedupe_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedupe_key"], name="delivery_receipt_unique"),
        ]

    def __str__(self) -> str:
        return f"Delivery receipt #{self.pk}"


class CannedResponse(models.Model):
    """A reply staff can insert with one click. Written by staff for reuse: not PHI."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=80)
    body = models.TextField(max_length=1600)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class WhatsAppTemplate(models.Model):
    """A template approved by Meta for a WhatsApp channel: the only thing sendable outside 24 h."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="templates")
    # Meta template name, or a Twilio Content SID (HX…) for WhatsApp through Twilio.
    name = models.CharField(max_length=128)
    language = models.CharField(max_length=16, default="en_US")
    # What staff see when choosing it; {{1}}-style placeholders as in the approved template.
    preview = models.TextField(blank=True)
    parameter_count = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "name", "language"], name="wa_template_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"
