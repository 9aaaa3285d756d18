"""Plans (platform data), subscriptions, daily usage counters and monthly statements.

Money is always an integer of minor units (cents) beside an ISO 4217 currency, never a float.
A segment's overage price is smaller than a cent, so plans price overage per 1,000 segments.
"""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from billing.periods import Feature


class Plan(models.Model):
    """What an organisation buys. Not tenant data: every organisation reads the same plans."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    tagline = models.CharField(max_length=160, blank=True)
    is_active = models.BooleanField(default=True,
                                    help_text="Shown on the pricing page and offered to owners.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    monthly_price = models.PositiveIntegerField(help_text="Minor units (cents) a month.")
    included_segments = models.PositiveIntegerField(help_text="Message segments included each month.")
    overage_price_per_1000 = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Minor units per 1,000 segments beyond the included ones. Blank: no overage "
                  "(sending stops at the included segments).")
    contact_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: unlimited.")
    channel_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: unlimited.")
    user_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: unlimited.")
    api_requests_per_minute = models.PositiveIntegerField(default=0, help_text="0: no partner API.")
    feature_whatsapp = models.BooleanField("WhatsApp channels", default=False)
    feature_api = models.BooleanField("partner API", default=False)
    feature_intake = models.BooleanField("intake bot", default=False)
    feature_reminders = models.BooleanField("appointment reminders", default=False)
    retention_days_options = models.JSONField(
        default=list, blank=True, help_text="Data-retention periods (days) an organisation may choose.")
    trial_days = models.PositiveSmallIntegerField(default=14)
    contact_sales = models.BooleanField(default=False, help_text="The pricing page says “contact us”.")

    class Meta:
        ordering = ["sort_order", "monthly_price"]

    def __str__(self) -> str:
        return self.name

    @property
    def allows_overage(self) -> bool:
        return self.overage_price_per_1000 is not None

    def has_feature(self, feature: str) -> bool:
        return bool(getattr(self, f"feature_{Feature(feature).value}"))

    def cap_for(self, resource: str) -> int | None:
        return getattr(self, f"{resource}_cap")


class Subscription(models.Model):
    """An organisation's plan and where it stands in its current billing period.

    Periods are calendar months in the organisation's time zone: ``period_start`` is the
    first day, ``period_end`` the first day after (exclusive).
    """

    class Status(models.TextChoices):
        TRIAL = "trial", "Trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE,
                                        related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIAL)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    # The owner chose this plan (during a trial: keep it after the trial instead of dropping to Free).
    continue_after_trial = models.BooleanField(default=False)
    period_start = models.DateField()
    period_end = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    def __str__(self) -> str:
        return f"Subscription #{self.pk} ({self.status})"


class PlanSpan(models.Model):
    """Which plan an organisation was on from which day: a statement prices each span by day.

    ``ends_on`` is exclusive and empty for the current span. Trial days cost nothing.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    is_trial = models.BooleanField(default=False)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["starts_on", "pk"]

    def __str__(self) -> str:
        return f"PlanSpan #{self.pk}"


class UsageCounter(models.Model):
    """One organisation's messages and segments on one day (its time zone), per channel kind,
    direction and origin. Upserted in the same transaction as the messages it counts."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    channel_kind = models.CharField(max_length=16)
    direction = models.CharField(max_length=8)
    origin = models.CharField(max_length=16)
    segments = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["organization", "day", "channel_kind", "direction", "origin"],
            name="usagecounter_one_row_per_key")]
        ordering = ["day"]

    def __str__(self) -> str:
        return f"UsageCounter #{self.pk}"


class UsageNotice(models.Model):
    """A usage threshold (80 or 100 %) already announced for one billing period: once each."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    threshold = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "period_start", "threshold"],
                                               name="usagenotice_once_per_threshold")]

    def __str__(self) -> str:
        return f"UsageNotice #{self.pk} ({self.threshold} %)"


class Statement(models.Model):
    """A closed billing period's bill: lines, total, and whether it has been paid."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting payment"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="statements")
    number = models.CharField(max_length=32, unique=True)
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    total = models.BigIntegerField()
    segments_used = models.BigIntegerField(default=0)
    segments_included = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    gateway = models.CharField(max_length=32)
    issued_at = models.DateTimeField()
    due_on = models.DateField()
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-period_start"]
        constraints = [models.UniqueConstraint(fields=["organization", "period_start"],
                                               name="statement_one_per_period")]

    def __str__(self) -> str:
        return self.number


class StatementLine(models.Model):
    """One priced line of a statement (a plan's days, or overage segments)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200)
    quantity = models.BigIntegerField()
    unit = models.CharField(max_length=16)  # "days" or "segments"
    amount = models.BigIntegerField()

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"StatementLine #{self.pk}"
