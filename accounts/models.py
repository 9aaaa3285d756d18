"""Users, organisations (the tenant), memberships with roles, and per-organisation data keys."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_scopes import ScopedManager

from accounts.email_address import canonical_email
from accounts.roles import Role


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=canonical_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)

    def get_by_natural_key(self, username):
        # Exact match on the canonical form: the same function that stored it and keys the lockout.
        return self.get(email=canonical_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in (staff of one or more organisations). Patients never have one."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    # Platform operators only; organisation admins reach the admin through their role.
    is_staff = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Self-service sign-ups must prove their e-mail before reaching any page; accounts made
    # from an invitation are proven by the invitation link itself.
    email_verification_required = models.BooleanField(default=False)
    # Bumped by "sign out everywhere": part of the session hash, so every session dies at once.
    session_generation = models.PositiveIntegerField(default=0, editable=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"User #{self.pk}"

    def clean(self):
        super().clean()
        self.email = canonical_email(self.email)

    def save(self, *args, **kwargs):
        # Every door (forms, admin, services) stores the one canonical form (accounts.email_address).
        self.email = canonical_email(self.email)
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    def _get_session_auth_hash(self, secret=None):
        """Django checks this hash on every request: it changes with the password and the generation."""
        if not self.session_generation:
            return super()._get_session_auth_hash(secret=secret)
        key_salt = "accounts.User.session_auth_hash"
        value = f"{self.password}:{self.session_generation}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


class Organization(models.Model):
    """The tenant: a clinic or health organisation. Every tenant-owned row points here."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    # Region used to read national-format phone numbers (ISO 3166 alpha-2).
    default_region = models.CharField(max_length=2, default="US")
    timezone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the organisation's data keys were destroyed (crypto-shredding).
    keys_destroyed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Security settings, editable by owners and admins (accounts.services.update_security_settings).
    require_two_factor = models.BooleanField(
        "require two-factor authentication of every member", default=False,
        help_text="Owners and admins always need it; this extends it to staff and viewers.",
    )
    idle_timeout_minutes = models.PositiveSmallIntegerField(
        "sign out after inactivity (minutes)", default=15,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
        help_text="Between 5 and 60 minutes.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(idle_timeout_minutes__gte=5, idle_timeout_minutes__lte=60),
                name="organization_idle_timeout_5_to_60",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one organisation; a user may hold several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
        ]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"Membership #{self.pk} ({self.role})"


class DataKey(models.Model):
    """An organisation's key, stored wrapped (encrypted) by a master key from PHI_MASTER_KEYS.

    `purpose=data` keys encrypt PHI columns (one primary at a time; older ones stay until
    their rows are re-encrypted); the `index` key derives blind-index keys.
    """

    class Purpose(models.TextChoices):
        DATA = "data", "PHI encryption"
        INDEX = "index", "Blind index"

    class State(models.TextChoices):
        ACTIVE = "active", "Encrypts and decrypts"
        # Rotated out: never encrypts again, decrypts until every row moved and every process's
        # key cache has expired (accounts.key_management.purge_retired_data_keys deletes it then).
        DECRYPT_ONLY = "decrypt_only", "Decrypts only (retired)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="data_keys")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    is_primary = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    master_key_id = models.CharField(max_length=16)
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "purpose"],
                condition=models.Q(is_primary=True),
                name="datakey_one_primary_per_purpose",
            ),
            # A retired key can never be the primary one again.
            models.CheckConstraint(
                condition=~models.Q(is_primary=True, state="decrypt_only"),
                name="datakey_primary_is_active",
            ),
        ]

    def __str__(self) -> str:
        return f"DataKey #{self.pk} ({self.purpose})"


class Invitation(models.Model):
    """An e-mailed, single-use offer to join an organisation with a role; expires after 72 hours.

    Only the SHA-256 of the token is stored: the link in the e-mail is the only copy.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation #{self.pk} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "pending" if self.expires_at > timezone.now() else "expired"


class PendingEmail(models.Model):
    """An account e-mail whose task could not be queued (broker unreachable), kept for the sweeper.

    Holds the task's name and the user's id only: no address, no token (the task makes the link
    when it runs). `accounts.send_pending_emails` sends and deletes these when the broker is back.
    """

    task_name = models.CharField(max_length=100)
    user_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"PendingEmail #{self.pk} ({self.task_name})"


# Partner-API keys and idempotency records live in their own module (accounts.api_keys).
from accounts.api_keys import ApiKey, IdempotentRequest  # noqa: E402,F401
from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402,F401
