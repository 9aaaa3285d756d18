"""Reads of contacts for the partner API: cursor-paged lists, lookups, the row a write acts on.

Same rules as ``contacts.selectors`` (which the web UI uses): each function checks the actor's
permission, sees only the actor's organisation, and every read that hands out PHI records one
audit event naming the actor (for the API, the key's prefix). The list is a lazy queryset the
API's cursor pagination slices; the page it shows is recorded by ``contact_page`` — one event
per page, never one per row.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

import audit
from accounts import blind_index
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm
from accounts.validators import InvalidValue, validate_email, validate_phone
from audit import AuditAction
from contacts import selectors
from contacts.models import Contact, CustomField, ImportJob


def partner_contacts(*, actor: Actor) -> QuerySet[Contact]:
    """The organisation's contacts, lazy and not audited: the caller shows a page of them
    through ``contact_page``, which records the read."""
    actor.require(Perm.CONTACTS_VIEW)
    return Contact.objects.filter(organization_id=actor.organization_id)


def contact_page(*, actor: Actor, contacts: list[Contact], filters: list[str]) -> dict[int, list[str]]:
    """Record one page of contacts shown (CONTACTS_LIST_VIEWED: row count and which filters —
    names, never values) and return each row's tag names (one query for the whole page)."""
    actor.require(Perm.CONTACTS_VIEW)
    for contact in contacts:
        actor.require_same_organization(contact)
    audit.record(AuditAction.CONTACTS_LIST_VIEWED, organization=actor.organization_id, actor=actor,
                 detail={"rows": len(contacts), "filters": sorted(filters), "via": "api"})
    return selectors.tags_by_contact(actor=actor, contact_ids=[c.pk for c in contacts])


def contact_for_change(*, actor: Actor, contact_id: int | str, perm: Perm, echoes: bool = True) -> Contact:
    """The contact a write acts on, checked for ``perm``; another organisation's id is a 404.

    ``echoes``: the answer shows the contact back, so the actor must also be allowed to read
    contacts (a write-only key cannot read a patient by changing nothing). Not audited as a
    view: the write's own event (CONTACT_UPDATED, CONSENT_CHANGED, …) names the contact and the
    actor, and the answer shows what that write left.
    """
    actor.require(perm)
    if echoes:
        actor.require(Perm.CONTACTS_VIEW)
    try:
        return Contact.objects.get(organization_id=actor.organization_id, pk=int(contact_id))
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise Http404("No such contact.") from None


def lookup_contact(*, actor: Actor, organization: Organization, phone: str | None = None,
                   email: str | None = None) -> Contact | None:
    """The contact with this phone number or e-mail address (exactly one of them), through
    the blind index: one indexed equality lookup, nothing decrypted to search.

    Audited as CONTACT_LOOKED_UP whether found or not (a miss tells the caller something about
    a person too): by which kind of value and whether found, never the value. Raises
    InvalidValue (field "phone" or "email") for a value that cannot be a phone or e-mail.
    """
    actor.require(Perm.CONTACTS_VIEW, organization)
    if (phone is None) == (email is None):
        raise InvalidValue("Give either a phone number or an e-mail address.", field="phone")
    if phone is not None:
        kind = "phone"
        index = blind_index.phone_index(organization.pk, validate_phone(phone, organization.default_region))
        found = Contact.objects.filter(organization_id=actor.organization_id, phone_index=index)
    else:
        kind = "email"
        index = blind_index.email_index(organization.pk, validate_email(email))
        found = Contact.objects.filter(organization_id=actor.organization_id, email_index=index)
    # Oldest first: should two contacts ever share a value, every lookup picks the same one.
    contact = found.order_by("pk").first()
    audit.record(AuditAction.CONTACT_LOOKED_UP, organization=actor.organization_id, target=contact,
                 actor=actor, detail={"by": kind, "found": contact is not None})
    return contact


def custom_field_definitions(*, actor: Actor) -> QuerySet[CustomField]:
    """The organisation's custom-field definitions (no PHI: not audited)."""
    actor.require(Perm.CONTACTS_VIEW)
    return CustomField.objects.filter(organization_id=actor.organization_id)


def partner_import_jobs(*, actor: Actor) -> QuerySet[ImportJob]:
    """The organisation's import jobs for the partner API, without their two encrypted columns
    (the file's name and its header row): status and counts are all the API shows."""
    actor.require(Perm.CONTACTS_IMPORT)
    return ImportJob.objects.filter(organization_id=actor.organization_id).defer("original_name", "headers")
