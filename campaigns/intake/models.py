"""Questionnaires, their frozen versions, sessions in flight, submissions, photos, conflicts.

Every model is tenant-scoped. Answers, photos and proposed contact values are PHI: encrypted
columns. A session runs on a ``QuestionnaireVersion`` (a frozen snapshot of the questions), so
editing a questionnaire never changes a conversation already in flight.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedJSONField, EncryptedTextField

__all__ = [
    "ContactFieldConflict",
    "IntakePhoto",
    "IntakeSession",
    "Question",
    "QuestionKind",
    "Questionnaire",
    "QuestionnaireVersion",
    "Submission",
]


class QuestionKind(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    YES_NO = "yes_no", "Yes / no"
    SINGLE_CHOICE = "single_choice", "Single choice"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    PHONE = "phone", "Phone number"
    EMAIL = "email", "E-mail"
    PHOTO = "photo", "Photo (insurance card, ID)"


class Questionnaire(models.Model):
    """What a clinic asks; its questions are edited here and published as versions."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    language = models.CharField(max_length=8, default="en", help_text="en or es: the bot's own words")
    start_keywords = models.CharField(
        max_length=200,
        blank=True,
        help_text="Words that start it when a patient texts them, comma-separated (e.g. INTAKE, ADMISION)",
    )
    intro = models.TextField(max_length=1000, blank=True)
    completion_message = models.TextField(max_length=1000, blank=True)
    reminder_message = models.TextField(max_length=500, blank=True)
    expiry_message = models.TextField(max_length=500, blank=True)
    reminder_after_minutes = models.PositiveIntegerField(default=240)
    expire_after_minutes = models.PositiveIntegerField(default=1440)
    update_contact = models.BooleanField(
        default=True, help_text="Fill the patient's empty fields from the answers; conflicts go to staff"
    )
    is_active = models.BooleanField(default=True)
    # Soft delete: sessions in flight find it gone and end politely; submissions stay exportable.
    deleted_at = models.DateTimeField(null=True, blank=True)
    current_version = models.ForeignKey(
        "campaigns.QuestionnaireVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"Questionnaire #{self.pk}"

    def keywords(self) -> list[str]:
        return [k.strip().upper() for k in self.start_keywords.replace(";", ",").split(",") if k.strip()]


class Question(models.Model):
    """One question of a questionnaire's working copy (published into versions)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=40, help_text="Column name in exports; unique in the questionnaire")
    kind = models.CharField(max_length=16, choices=QuestionKind.choices, default=QuestionKind.TEXT)
    prompt = models.TextField(max_length=1000)
    required = models.BooleanField(default=True)
    reask_message = models.CharField(
        max_length=300, blank=True, help_text="Said before the reason when an answer is refused"
    )
    max_length = models.PositiveIntegerField(default=500)
    min_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    max_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    allow_future = models.BooleanField(default=False, help_text="Date questions: accept dates after today")
    condition_key = models.SlugField(
        max_length=40, blank=True, help_text="Ask only when this earlier question's answer…"
    )
    condition_value = models.CharField(
        max_length=100, blank=True, help_text="…is this (yes, no, or an option)"
    )
    contact_field = models.CharField(
        max_length=60, blank=True, help_text="first_name, last_name, date_of_birth, email or custom:<key>"
    )

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "key"], name="intake_question_key_unique")
        ]

    def __str__(self) -> str:
        return f"Question #{self.pk}"


class QuestionnaireVersion(models.Model):
    """A frozen snapshot of a questionnaire's texts and questions; sessions finish on theirs."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(default=dict)  # clinic-written texts and question rules: not PHI
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["questionnaire", "number"]
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "number"], name="intake_version_unique")
        ]

    def __str__(self) -> str:
        return f"Questionnaire #{self.questionnaire_id} v{self.number}"

    @property
    def questions(self) -> list[dict]:
        return list(self.snapshot.get("questions") or [])


class IntakeSession(models.Model):
    """One patient answering one questionnaire version on one channel."""

    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        COMPLETED = "completed", "Completed"
        EXPIRED = "expired", "Expired"
        STOPPED = "stopped", "Stopped (patient opted out)"
        TAKEN_OVER = "taken_over", "Taken over by staff"
        CANCELLED = "cancelled", "Ended (questionnaire removed)"

    class Via(models.TextChoices):
        KEYWORD = "keyword", "Keyword"
        CAMPAIGN = "campaign", "Campaign"
        STAFF = "staff", "Staff"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="sessions")
    version = models.ForeignKey(QuestionnaireVersion, on_delete=models.PROTECT, related_name="sessions")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("messaging.Channel", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "messaging.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.KEYWORD)
    position = models.IntegerField(default=0)  # index of the question being asked
    history = models.JSONField(default=list, blank=True)  # positions asked before (BACK): no PHI
    answers = EncryptedJSONField(default=dict, blank=True)
    # Inbound messages up to this id were handled: retries and late duplicates change nothing.
    last_message_id = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    late_reply_answered = models.BooleanField(default=False)

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "channel"],
                condition=models.Q(status="active"),
                name="intake_one_active_session_per_contact_channel",
            ),
        ]
        indexes = [models.Index(fields=["status", "last_activity_at"], name="intake_session_sweep_idx")]

    def __str__(self) -> str:
        return f"Intake session #{self.pk} ({self.status})"


class Submission(models.Model):
    """A completed session's answers, kept with the version they answered."""

    class ContactUpdate(models.TextChoices):
        NONE = "none", "Not applied"
        APPLIED = "applied", "Applied"
        CONFLICTS = "conflicts", "Conflicts to review"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="submissions")
    version = models.ForeignKey(QuestionnaireVersion, on_delete=models.PROTECT, related_name="submissions")
    session = models.OneToOneField(IntakeSession, on_delete=models.CASCADE, related_name="submission")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answers = EncryptedJSONField(default=dict, blank=True)
    contact_update = models.CharField(
        max_length=16, choices=ContactUpdate.choices, default=ContactUpdate.NONE
    )
    submitted_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["-submitted_at", "-pk"]
        indexes = [models.Index(fields=["questionnaire", "-submitted_at"], name="intake_submission_list_idx")]

    def __str__(self) -> str:
        return f"Submission #{self.pk}"


class ContactFieldConflict(models.Model):
    """An answer that disagrees with a filled contact field: staff accept or reject it."""

    class Status(models.TextChoices):
        PENDING = "pending", "To review"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="conflicts")
    field = models.CharField(max_length=60)
    proposed = EncryptedTextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Contact field conflict #{self.pk} ({self.field}, {self.status})"


class IntakePhoto(models.Model):
    """A photo answer (insurance card, ID): the image bytes encrypted, never the provider's URL."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(IntakeSession, on_delete=models.CASCADE, related_name="photos")
    question_key = models.CharField(max_length=40)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    data = EncryptedTextField()  # base64 of the image, sealed under the organisation's data key
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        app_label = "campaigns"
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Intake photo #{self.pk}"
