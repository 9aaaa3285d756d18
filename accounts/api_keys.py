"""Organisation API keys for partner systems: hashed, prefixed, scoped, expiring, revocable.

Built on djangorestframework-api-key's ``AbstractAPIKey`` (SHA-512 of a high-entropy key,
shown once, never stored): we add the organisation (the key's tenant), scopes, who made it
and when it was last used. A key reads ``crk_<8 chars>.<32 chars>``; the part before the
dot is the stored, unique prefix that finds the row, so a key is recognisable in a
secrets scanner and in our own UI without being recoverable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.crypto import get_random_string
from django_scopes import ScopedManager
from rest_framework_api_key.crypto import KeyGenerator
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from accounts.fields import EncryptedJSONField
from accounts.roles import Perm

KEY_PREFIX = "crk_"

# Scopes per resource family, and the permissions each grants. A key is given a subset;
# a person can only grant the scopes whose permissions their own role has.
API_SCOPES: dict[str, tuple[str, frozenset[Perm]]] = {
    "contacts:read": ("Read contacts, tags and custom fields", frozenset({Perm.CONTACTS_VIEW})),
    "contacts:write": ("Create, change and delete contacts; import files",
                       frozenset({Perm.CONTACTS_EDIT, Perm.CONTACTS_DELETE, Perm.CONTACTS_IMPORT})),
    "contacts:export": ("Export contacts and submissions", frozenset({Perm.CONTACTS_EXPORT})),
    "messages:read": ("Read conversations, messages and channels", frozenset({Perm.INBOX_VIEW})),
    "messages:write": ("Send messages and templates, assign conversations, start intake for a contact",
                       frozenset({Perm.MESSAGES_SEND, Perm.CONVERSATIONS_ASSIGN})),
    "campaigns:read": ("Read campaigns, their stats and intake submissions",
                       frozenset({Perm.CAMPAIGNS_VIEW})),
    "campaigns:write": ("Create, schedule, pause and cancel campaigns",
                        frozenset({Perm.CAMPAIGNS_MANAGE})),
    "audit:read": ("Read the organisation's audit events (admin keys)", frozenset({Perm.AUDIT_VIEW})),
    "usage:read": ("Read this period's usage against the plan (no prices)", frozenset({Perm.BILLING_VIEW})),
}


def permissions_of(scopes) -> frozenset[Perm]:
    """The permissions a list of scope names grants (unknown names grant nothing)."""
    granted: set[Perm] = set()
    for name in scopes or ():
        granted |= API_SCOPES.get(name, ("", frozenset()))[1]
    return frozenset(granted)


class PrefixedKeyGenerator(KeyGenerator):
    """``crk_`` + 8 random characters, a dot, 32 random characters."""

    def get_prefix(self) -> str:
        return KEY_PREFIX + get_random_string(8)


class ApiKeyManager(BaseAPIKeyManager):
    key_generator = PrefixedKeyGenerator()

    def get_usable_keys(self):
        # Authentication reads the key's organisation next (active? keys destroyed?): one query.
        return super().get_usable_keys().select_related("organization")


class ApiKey(AbstractAPIKey):
    """One partner system's key in one organisation. No PHI: names are the admin's labels."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="api_keys")
    # AbstractAPIKey stores 8 characters; ours carry the readable "crk_" in front.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # The API door finds a key by its prefix before it knows the tenant (see
    # accounts.partner_api.authentication), through this manager with the scope disabled.
    objects = ScopedManager(organization="organization", _manager_class=ApiKeyManager)

    class Meta(AbstractAPIKey.Meta):
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"API key {self.prefix}"

    @property
    def permissions(self) -> frozenset[Perm]:
        return permissions_of(self.scopes)


class IdempotentRequest(models.Model):
    """A POST made with an ``Idempotency-Key``: its fingerprint and, once answered, the answer.

    A retry with the same key and body gets the stored answer without acting twice; the same
    key with another body is refused. Kept 24 hours (``purge_idempotency_keys``). The stored
    answer can hold PHI (a created contact echoed back), so it is encrypted like PHI.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = EncryptedJSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"],
                                               name="idempotency_key_unique_per_key")]

    def __str__(self) -> str:
        return f"Idempotent request #{self.pk} ({self.state})"
