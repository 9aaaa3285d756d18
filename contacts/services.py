"""Writes to contacts: normalise, encrypt (via fields), blind-index, audit — in one transaction."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction

import audit
from accounts import blind_index
from accounts.models import Organization
from audit import AuditAction
from contacts.models import Contact, ContactNameToken

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth")


def refresh_indexes(contact: Contact) -> None:
    """Recompute the phone and e-mail blind indexes from the contact's plaintext values."""
    org_id = contact.organization_id
    contact.phone_index = blind_index.phone_index(org_id, contact.phone) if contact.phone else ""
    contact.email_index = blind_index.email_index(org_id, contact.email) if contact.email else ""


def _replace_name_tokens(contacts: Iterable[Contact]) -> None:
    contacts = list(contacts)
    ContactNameToken.objects.filter(contact__in=[c.pk for c in contacts]).delete()
    ContactNameToken.objects.bulk_create([
        ContactNameToken(organization_id=c.organization_id, contact=c, digest=d)
        for c in contacts
        for d in blind_index.name_indexes(c.organization_id, c.first_name, c.last_name)
    ])


def _clean(organization: Organization, values: dict) -> dict:
    cleaned = {k: v for k, v in values.items() if k in CONTACT_FIELDS}
    if cleaned.get("phone"):
        cleaned["phone"] = blind_index.normalize_phone(cleaned["phone"], organization.default_region)
    if cleaned.get("email"):
        cleaned["email"] = blind_index.normalize_email(cleaned["email"])
    dob = cleaned.get("date_of_birth")
    if isinstance(dob, str) and dob:
        cleaned["date_of_birth"] = datetime.date.fromisoformat(dob)
    return cleaned


@transaction.atomic
def create_contact(*, organization: Organization, actor=None, **values) -> Contact:
    """Create a contact; the phone is normalised to E.164 with the organisation's region."""
    contact = Contact(organization=organization, **_clean(organization, values))
    refresh_indexes(contact)
    contact.save()
    _replace_name_tokens([contact])
    audit.record(AuditAction.CONTACT_CREATED, target=contact, actor=actor,
                 detail={"fields": sorted(k for k, v in values.items() if v)})
    return contact


@transaction.atomic
def update_contact(*, contact: Contact, actor=None, **values) -> Contact:
    """Change some of a contact's fields; the audit event names the fields, never values."""
    cleaned = _clean(contact.organization, values)
    changed = sorted(k for k, v in cleaned.items() if getattr(contact, k) != v)
    for key, value in cleaned.items():
        setattr(contact, key, value)
    refresh_indexes(contact)
    contact.save()
    if {"first_name", "last_name"} & set(changed):
        _replace_name_tokens([contact])
    audit.record(AuditAction.CONTACT_UPDATED, target=contact, actor=actor,
                 detail={"fields": changed})
    return contact
