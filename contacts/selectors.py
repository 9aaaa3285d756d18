"""Reads of contacts. Every read that returns PHI records an audit event here."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

import audit
from accounts import blind_index
from accounts.models import Organization
from audit import AuditAction
from contacts.models import CHANNELS, Contact, ContactNameToken, ContactTag, ImportJob, Tag


@dataclass(frozen=True)
class ConsentState:
    """A contact's consent on one channel: opted_in is None when never stated."""

    opted_in: bool | None
    source: str
    changed_at: datetime.datetime | None


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
    return _with_phone_index(organization, blind_index.phone_index(organization.pk, e164)).first()


def _with_phone_index(organization: Organization, phone_index: str) -> QuerySet:
    # Oldest first: should two contacts ever share a phone, every path picks the same one.
    return Contact.objects.filter(organization=organization, phone_index=phone_index).order_by("pk")


def contact_by_phone_index(organization: Organization, phone_index: str) -> Contact | None:
    """The organisation's contact with this phone blind index, loaded narrow.

    Only the id and consent flags are read (no column is decrypted); other fields load on
    access. For hot paths that already computed the index (inbound webhooks).
    """
    return (_with_phone_index(organization, phone_index)
            .only("pk", "organization_id", "sms_opted_in", "whatsapp_opted_in").first())


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


CONSENT_FILTERS = ("opted_in", "opted_out", "unknown")


def filter_contacts(organization: Organization, *, query: str = "", tag_id: int | None = None,
                    consent: str = "", consent_channel: str = "sms", channel: str = "") -> QuerySet:
    """The list page's query: search plus tag, consent (per channel) and preferred-channel filters.

    Returns a lazy queryset; rendering rows is the caller's PHI read (the list is not audited
    row by row, like any paginated index; opening a contact is).
    """
    qs = search_contacts(organization, query)
    if tag_id:
        qs = qs.filter(pk__in=ContactTag.objects.filter(tag_id=tag_id).values("contact_id"))
    if consent in CONSENT_FILTERS and consent_channel in CHANNELS:
        column = f"{consent_channel}_opted_in"
        qs = qs.filter(**({f"{column}__isnull": True} if consent == "unknown"
                          else {column: consent == "opted_in"}))
    if channel in CHANNELS:
        qs = qs.filter(preferred_channel=channel)
    return qs.order_by("-created_at", "-pk")


def tags() -> QuerySet:
    """The current organisation's tags (no PHI)."""
    return Tag.objects.all()


def tags_by_contact(contact_ids: list[int]) -> dict[int, list[str]]:
    """Tag names for each of the given contacts, in one query."""
    names: dict[int, list[str]] = {}
    rows = ContactTag.objects.filter(contact_id__in=contact_ids).select_related("tag").order_by("tag__name")
    for row in rows:
        names.setdefault(row.contact_id, []).append(row.tag.name)
    return names


def is_opted_out(contact: Contact, channel: str) -> bool:
    """True only after an explicit opt-out on that channel (unknown consent is not an opt-out)."""
    return consent_state(contact, channel).opted_in is False


def consent_state(contact: Contact, channel: str) -> ConsentState:
    """Where a contact stands on one channel ("sms" or "whatsapp"): opted_in, source, time."""
    if channel not in CHANNELS:
        raise ValueError("channel must be 'sms' or 'whatsapp'")
    return ConsentState(
        opted_in=getattr(contact, f"{channel}_opted_in"),
        source=getattr(contact, f"{channel}_consent_source"),
        changed_at=getattr(contact, f"{channel}_consent_at"),
    )


def get_import_job(job_uuid) -> ImportJob:
    """An import job of the current organisation by its public id; another org's is a 404."""
    try:
        return ImportJob.objects.get(uuid=job_uuid)
    except (ImportJob.DoesNotExist, ValueError):
        raise Http404("No such import.") from None
