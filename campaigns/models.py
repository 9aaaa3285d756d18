"""Message templates, campaigns and their recipients.

Every model is tenant-owned (organization + django-scopes). Template bodies are written by
staff for many patients and are not PHI; a campaign's custom-field conditions can name a
diagnosis ("condition equals HIV") and are encrypted. Recipient rows hold ids and states
only: the rendered text is made at send time and stored (encrypted) on messaging.Message.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedJSONField
from campaigns import quiet_hours


class CampaignSettings(models.Model):
    """An organisation's campaign defaults: the language of last resort and the sending window."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE,
                                        related_name="campaign_settings")
    default_language = models.CharField(max_length=16, default="en",
                                        help_text="Used for patients with no language, e.g. en, es")
    send_window_start = models.TimeField(default=quiet_hours.DEFAULT_START)
    send_window_end = models.TimeField(default=quiet_hours.DEFAULT_END)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(send_window_start=models.F("send_window_end")),
                                   name="campaign_settings_window_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Campaign settings #{self.pk}"

    @property
    def window(self) -> quiet_hours.Window:
        return quiet_hours.Window(self.send_window_start, self.send_window_end)

    @classmethod
    def window_of(cls, organization_id: int) -> quiet_hours.Window:
        """The organisation's sending window: its saved settings', else the default 08:00-21:00."""
        row = cls.objects.filter(organization_id=organization_id).first()
        return row.window if row is not None else quiet_hours.DEFAULT_WINDOW


class MessageTemplate(models.Model):
    """A reusable campaign text with one variant per language."""

    class OnMissing(models.TextChoices):
        SKIP = "skip", "Skip the patient (counted as “missing value”)"
        BLANK = "blank", "Send with the value left out"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    on_missing = models.CharField(
        "when a placeholder without fallback has no value", max_length=8,
        choices=OnMissing.choices, default=OnMissing.SKIP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"],
                                               name="message_template_unique_name")]

    def __str__(self) -> str:
        return self.name


class TemplateVariant(models.Model):
    """The template in one language: an SMS body, or an approved WhatsApp template + parameters."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="variants")
    language = models.CharField(max_length=16, help_text="e.g. en, es, fr-CA")
    body = models.TextField(max_length=1600, blank=True)
    whatsapp_template = models.ForeignKey("messaging.WhatsAppTemplate", null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+")
    # One expression per {{n}} of the WhatsApp template, in order: `first_name | "there"`.
    whatsapp_parameters = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["language"]
        constraints = [models.UniqueConstraint(fields=["template", "language"],
                                               name="template_variant_unique")]

    def __str__(self) -> str:
        return f"{self.template_id}:{self.language}"


class CampaignKind(models.TextChoices):
    CARE = "care", "Care (sent unless the patient opted out)"
    OUTREACH = "outreach", "Outreach (only patients who opted in)"


class CampaignState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class AudienceSource(models.TextChoices):
    EVERYONE = "everyone", "Everyone eligible"
    TAGS = "tags", "Patients with tags"
    UPLOAD = "upload", "An uploaded list of phone numbers"


class Campaign(models.Model):
    """A personalised send to an audience on one channel, at a time, inside a sending window."""

    class TagMatch(models.TextChoices):
        ANY = "any", "Any of the tags"
        ALL = "all", "All of the tags"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    # Consent law differs between the kinds: chosen on creation, never changed.
    kind = models.CharField(max_length=10, choices=CampaignKind.choices)
    channel = models.ForeignKey("messaging.Channel", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="campaigns")
    # Optional: each recipient's message is followed by this questionnaire's first question
    # (campaigns.questionnaire_start). Questionnaires are soft-deleted; SET_NULL covers the rest.
    questionnaire = models.ForeignKey("campaigns.Questionnaire", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="campaigns")
    state = models.CharField(max_length=10, choices=CampaignState.choices, default=CampaignState.DRAFT)
    # Why it is paused (a code from services.PauseReason), e.g. the channel was switched off.
    pause_reason = models.CharField(max_length=32, blank=True, default="")
    # The numbers behind a pause staff must act on (quota: needed, included, used, remaining
    # segments; billing's code): counts only, no PHI. Cleared on resume.
    pause_detail = models.JSONField(default=dict, blank=True)
    # Audience.
    audience_source = models.CharField(max_length=10, choices=AudienceSource.choices,
                                       default=AudienceSource.EVERYONE)
    tag_ids = models.JSONField(default=list, blank=True)
    tag_match = models.CharField(max_length=3, choices=TagMatch.choices, default=TagMatch.ANY)
    # [{"key": <custom field key>, "op": "equals"|"is_empty", "value": "..."}]: may name a diagnosis.
    conditions = EncryptedJSONField(default=list, blank=True)
    exclude_tag_ids = models.JSONField(default=list, blank=True)
    exclude_messaged_days = models.PositiveSmallIntegerField(null=True, blank=True)
    uploaded_numbers = models.PositiveIntegerField(default=0)
    # Schedule (None: as soon as it is started) and sending window (None: the organisation's).
    send_at = models.DateTimeField(null=True, blank=True)
    send_window_start = models.TimeField(null=True, blank=True)
    send_window_end = models.TimeField(null=True, blank=True)
    # The last audience count shown to staff (counts by reason only; no PHI).
    audience_counts = models.JSONField(default=dict, blank=True)
    audience_counted_at = models.DateTimeField(null=True, blank=True)
    # Fan-out progress: resumable after a crash (keyset position, not PHI: ids and a blind index).
    fanout_cursor = models.JSONField(default=dict, blank=True)
    fanout_done = models.BooleanField(default=False)
    # Renewed by the dispatcher at every chunk: a running campaign without a beat for a while
    # lost its task (worker killed, broker restarted) and is handed on by the beat sweep.
    dispatch_heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "state"], name="campaign_org_state_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=CampaignKind.values),
                                   name="campaign_kind_valid"),
            models.CheckConstraint(condition=models.Q(state__in=CampaignState.values),
                                   name="campaign_state_valid"),
        ]

    def __str__(self) -> str:
        return f"Campaign #{self.pk} ({self.kind}, {self.state})"

    @property
    def is_editable(self) -> bool:
        return self.state in (CampaignState.DRAFT, CampaignState.SCHEDULED)

    def window(self, organization_window: quiet_hours.Window) -> quiet_hours.Window:
        """The campaign's own sending window where set, else the organisation's."""
        return quiet_hours.window_or(self.send_window_start, self.send_window_end, organization_window)


class CampaignAudienceNumber(models.Model):
    """One phone number of an uploaded audience list, kept only as its blind index (no plaintext)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+",
                                     db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    phone_index = models.CharField(max_length=64)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "phone_index"],
                                               name="campaign_audience_number_unique")]

    def __str__(self) -> str:
        return f"Audience number of campaign #{self.campaign_id}"


class RecipientState(models.TextChoices):
    PENDING = "pending", "Pending"
    DEFERRED = "deferred", "Deferred (quiet hours)"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    UNKNOWN = "unknown", "Unknown — check with the provider"


class SkipReason(models.TextChoices):
    NO_NUMBER = "no_number", "No phone number"
    INVALID_NUMBER = "invalid_number", "Number cannot receive this channel"
    OPTED_OUT = "opted_out", "Opted out"
    NO_CONSENT = "no_consent", "No opt-in for outreach"
    EXCLUDED_TAG = "excluded_tag", "Excluded by tag"
    RECENTLY_MESSAGED = "recently_messaged", "Messaged recently"
    MISSING_VALUE = "missing_value", "Missing value"
    DUPLICATE = "duplicate", "Same number as another patient"
    REFUSED = "refused", "Refused when sending (see the message)"


# States a recipient is still to be sent in; the rest are final (or being checked).
OPEN_RECIPIENT_STATES = (RecipientState.PENDING, RecipientState.DEFERRED, RecipientState.QUEUED,
                         RecipientState.SENDING)


class CampaignRecipient(models.Model):
    """One contact of one campaign: a contact is never in a campaign twice (DB constraint)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+",
                                     db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients",
                                 db_index=False)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    state = models.CharField(max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True, default="")
    # Deferred recipients: the next opening of their sending window (UTC).
    send_after = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True, default="")
    segments = models.PositiveSmallIntegerField(default=0)
    # Filled by the dispatcher once messaging has stored the message.
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    # The patient's first reply within CAMPAIGN_REPLY_WINDOW_DAYS of the send, and whether it was STOP.
    replied_at = models.DateTimeField(null=True, blank=True)
    reply_message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    opted_out_by_reply = models.BooleanField(default=False, db_default=False)  # fan-out inserts omit it
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_recipient_unique_contact"),
            models.CheckConstraint(
                condition=(models.Q(state="skipped") & ~models.Q(skip_reason=""))
                | (~models.Q(state="skipped") & models.Q(skip_reason="")),
                name="campaign_recipient_skip_has_reason"),
        ]
        indexes = [models.Index(fields=["campaign", "state", "send_after"],
                                name="campaign_recipient_work_idx"),
                   # An inbound reply finds the campaigns that messaged its patient.
                   models.Index(fields=["contact"], name="campaign_recipient_sent_idx",
                                condition=models.Q(message__isnull=False))]

    def __str__(self) -> str:
        return f"Recipient #{self.pk} of campaign #{self.campaign_id} ({self.state})"


# The intake bot's models live in their own subpackage (campaigns.intake).
from campaigns.intake.models import *  # noqa: E402,F403
