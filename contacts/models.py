"""Patients (contacts): PHI encrypted per organisation, found through blind indexes.

Also the organisation's custom-field definitions, tags, and import jobs. Definitions,
tags and job bookkeeping hold no PHI; every patient value is an encrypted column.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedCharField, EncryptedDateField, EncryptedJSONField


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


CHANNELS = tuple(Channel.values)


class Origin(models.TextChoices):
    MANUAL = "manual", "Added by staff"
    IMPORT = "import", "Imported"
    INBOUND = "inbound", "Unknown sender (inbound message)"
    API = "api", "API"


class Contact(models.Model):
    """A patient an organisation messages. Every personal value is an encrypted column."""

    # No index of its own: the unique (organization, phone_index) and the (organization,
    # email_index) index lead with it, and every index is one more to update per inserted row.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="contacts", db_index=False)
    first_name = EncryptedCharField(max_length=100, blank=True, null=True)
    last_name = EncryptedCharField(max_length=100, blank=True, null=True)
    phone = EncryptedCharField(max_length=32, blank=True, null=True, help_text="E.164")
    email = EncryptedCharField(max_length=254, blank=True, null=True)
    date_of_birth = EncryptedDateField(blank=True, null=True)
    # Values of the organisation's custom fields, keyed by CustomField.key (validated in services).
    custom_values = EncryptedJSONField(blank=True, null=True)
    # Blind indexes (HMAC-SHA256, per organisation): equality search without decryption.
    phone_index = models.CharField(max_length=64, blank=True, default="")
    email_index = models.CharField(max_length=64, blank=True, default="")
    preferred_channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    language = models.CharField(max_length=16, blank=True, default="", help_text="e.g. en, es, fr-CA")
    timezone = models.CharField(max_length=64, blank=True, default="",
                                help_text="IANA name; derived from the phone number when unknown")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.MANUAL)
    # Consent per channel: None = never stated (transactional replies allowed, not opted out).
    sms_opted_in = models.BooleanField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=32, blank=True, default="")
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    whatsapp_opted_in = models.BooleanField(null=True, blank=True)
    whatsapp_consent_source = models.CharField(max_length=32, blank=True, default="")
    whatsapp_consent_at = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField("contacts.Tag", through="contacts.ContactTag", related_name="contacts",
                                  blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "email_index"], name="contact_org_email_idx"),
        ]
        constraints = [
            # One contact per phone number in an organisation (an import racing a manual create
            # must not make two). Partial: contacts without a phone have an empty index. Its
            # index also serves every lookup by phone (the former non-unique one was dropped);
            # a lookup must say `phone_index <> ''` when its value is not a literal.
            models.UniqueConstraint(fields=["organization", "phone_index"],
                                    condition=~models.Q(phone_index=""), name="contact_unique_phone"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        # Never PHI: __str__ ends up in logs, admin messages and error pages.
        return f"Contact #{self.pk}"


class ContactNameToken(models.Model):
    """One blind-indexed name word of a contact, so search by any name token is an index hit."""

    # Both covered by the composite index and constraint below (each leads with one of them);
    # fewer indexes to maintain on the importer's COPY path.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="name_tokens", db_index=False)
    digest = models.CharField(max_length=64)

    objects = ScopedManager(organization="organization")

    class Meta:
        indexes = [models.Index(fields=["organization", "digest"], name="contact_name_token_idx")]
        constraints = [
            models.UniqueConstraint(fields=["contact", "digest"], name="contact_name_token_unique"),
        ]

    def __str__(self) -> str:
        return f"Name token of contact #{self.contact_id}"


class Tag(models.Model):
    """A label staff put on contacts ("diabetes-program", "spanish"). Names are not PHI by policy."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    """A tag on a contact; carries the organisation so it is scoped like every tenant row."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")]

    def __str__(self) -> str:
        return f"Tag #{self.tag_id} on contact #{self.contact_id}"


class CustomField(models.Model):
    """An organisation's own contact field. The definition is not PHI; the values are (encrypted)."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    key = models.SlugField(max_length=50, help_text="Stable identifier used in imports and the API")
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values for a choice field")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="custom_field_unique_key"),
        ]

    def __str__(self) -> str:
        return self.label


class ImportColumnMemory(models.Model):
    """The target a column header was last mapped to, so the next import pre-fills the mapping.

    The header is stored only as a keyed digest: in a file without a header row the "header"
    is a patient's data.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    header_digest = models.CharField(max_length=64)
    target = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "header_digest"],
                                               name="import_memory_unique_header")]

    def __str__(self) -> str:
        return f"Import column memory #{self.pk}"


class ImportJob(models.Model):
    """One run of the import wizard: the stored upload, the mapping, progress and the outcome."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Waiting for column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Finished"
        FAILED = "failed", "Failed"

    class OnExisting(models.TextChoices):
        UPDATE = "update", "Update them with the file's values"
        SKIP = "skip", "Leave them as they are (skip those rows)"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # The partner API key that started it (its public prefix), for the audit event the worker
    # records when the import ends: the request that named the key is long gone by then.
    created_by_key = models.CharField(max_length=32, blank=True, default="")
    # File names and headers may name patients: encrypted like any PHI.
    original_name = EncryptedCharField(max_length=255, blank=True, null=True)
    headers = EncryptedJSONField(blank=True, null=True)
    file_format = models.CharField(max_length=8)
    encoding = models.CharField(max_length=16, blank=True, default="")
    delimiter = models.CharField(max_length=2, blank=True, default="")
    size_bytes = models.BigIntegerField(default=0)
    mapping = models.JSONField(default=list, blank=True, help_text="Target per column, in column order")
    default_region = models.CharField(max_length=2, default="US")
    on_existing = models.CharField(max_length=8, choices=OnExisting.choices, default=OnExisting.UPDATE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    # Rows of the file before its first data row: the header row and any blank rows above it,
    # or only the blank ones when the file has no header row (its columns are "Column 1…N").
    header_rows = models.PositiveIntegerField(default=1)
    has_header = models.BooleanField(default=True)
    # The run's lease (contacts.importing.lease): whoever runs the job beats this; a job queued
    # or running without a fresh beat is picked up by the import sweeper.
    queued_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    runner_token = models.CharField(max_length=32, blank=True, default="")
    resumed_count = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    # Of the skipped rows, those left out because the plan's contact cap was reached (billing).
    over_cap_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    blank_rows = models.PositiveIntegerField(default=0)
    error_lines = models.PositiveIntegerField(default=0)
    # A file-level problem, written for the person (never contains cell values).
    failure_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="import_job_sweep_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(self.processed_rows * 100 / self.total_rows))
