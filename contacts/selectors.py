"""Reads of contacts. Every read that returns PHI records an audit event here."""

from __future__ import annotations

from django.http import Http404

import audit
from accounts import blind_index
from accounts.models import Organization
from audit import AuditAction
from contacts.models import Contact, ContactNameToken


def contact_count() -> int:
    """How many contacts the current organisation has (no PHI: not audited)."""
    return Contact.objects.count()


def get_contact(*, contact_id: int | str, actor=None, audit_view: bool = True) -> Contact:
    """One contact of the current organisation, audited as viewed.

    Another organisation's id answers exactly like a missing one (404), so ids leak nothing.
    """
    try:
        contact = Contact.objects.get(pk=int(contact_id))
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise Http404("No such contact.") from None
    if audit_view:
        audit.record(AuditAction.CONTACT_VIEWED, target=contact, actor=actor)
    return contact


def find_by_phone(organization: Organization, raw_phone: str) -> Contact | None:
    """The contact with this phone number, through the blind index (one indexed lookup)."""
    e164 = blind_index.normalize_phone(raw_phone, organization.default_region)
    digest = blind_index.phone_index(organization.pk, e164)
    return Contact.objects.filter(organization=organization, phone_index=digest).order_by("pk").first()


def search_contacts(organization: Organization, query: str):
    """Contacts matching a phone, an e-mail or name words — by blind index only."""
    query = (query or "").strip()
    if not query:
        return Contact.objects.all()
    if "@" in query:
        return Contact.objects.filter(email_index=blind_index.email_index(organization.pk, query))
    try:
        e164 = blind_index.normalize_phone(query, organization.default_region)
    except blind_index.InvalidPhoneNumber:
        e164 = None
    if e164:
        return Contact.objects.filter(phone_index=blind_index.phone_index(organization.pk, e164))
    digests = blind_index.name_indexes(organization.pk, query)
    if not digests:
        return Contact.objects.none()
    qs = Contact.objects.all()
    # Every word must match (AND), each through the token index.
    for d in digests:
        qs = qs.filter(pk__in=ContactNameToken.objects.filter(digest=d).values("contact_id"))
    return qs
