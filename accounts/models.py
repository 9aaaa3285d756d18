"""Users, organisations (the tenant), memberships with roles, and per-organisation data keys."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from accounts.roles import Role


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
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
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in (staff of one or more organisations). Patients never have one."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    # Platform operators only; organisation admins reach the admin through their role.
    is_staff = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"User #{self.pk}"

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


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

    class Meta:
        ordering = ["name"]

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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="data_keys")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    is_primary = models.BooleanField(default=True)
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
        ]

    def __str__(self) -> str:
        return f"DataKey #{self.pk} ({self.purpose})"
