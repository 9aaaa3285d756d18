"""Patients (contacts): PHI encrypted per organisation, found through blind indexes."""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from accounts.fields import EncryptedCharField, EncryptedDateField


class Contact(models.Model):
    """A patient an organisation messages. Every personal value is an encrypted column."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="contacts")
    first_name = EncryptedCharField(max_length=100, blank=True, null=True)
    last_name = EncryptedCharField(max_length=100, blank=True, null=True)
    phone = EncryptedCharField(max_length=32, blank=True, null=True, help_text="E.164")
    email = EncryptedCharField(max_length=254, blank=True, null=True)
    date_of_birth = EncryptedDateField(blank=True, null=True)
    # Blind indexes (HMAC-SHA256, per organisation): equality search without decryption.
    phone_index = models.CharField(max_length=64, blank=True, default="")
    email_index = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "phone_index"], name="contact_org_phone_idx"),
            models.Index(fields=["organization", "email_index"], name="contact_org_email_idx"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        # Never PHI: __str__ ends up in logs, admin messages and error pages.
        return f"Contact #{self.pk}"


class ContactNameToken(models.Model):
    """One blind-indexed name word of a contact, so search by any name token is an index hit."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="name_tokens")
    digest = models.CharField(max_length=64)

    objects = ScopedManager(organization="organization")

    class Meta:
        indexes = [models.Index(fields=["organization", "digest"], name="contact_name_token_idx")]
        constraints = [
            models.UniqueConstraint(fields=["contact", "digest"], name="contact_name_token_unique"),
        ]

    def __str__(self) -> str:
        return f"Name token of contact #{self.contact_id}"
