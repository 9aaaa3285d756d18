"""Reads of contacts. Every read that returns PHI records an audit event here."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

import audit
from accounts import blind_index
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm
from accounts.tenancy import in_scope_of
from audit import AuditAction
from contacts.models import CHANNELS, Contact, ContactNameToken, ContactTag, ImportJob, Tag


@dataclass(frozen=True)
class ConsentState:
    """A contact's consent on one channel: opted_in is None when never stated."""

    opted_in: bool | None
    source: str
    changed_at: datetime.datetime | None


CONSENT_FILTERS = ("opted_in", "opted_out", "unknown")


@dataclass(frozen=True)
class ContactFilters:
    """What the list shows: a search (phone, e-mail or name words) and non-PHI filters."""

    query: str = ""
    tag_id: int | None = None
    consent: str = ""
    consent_channel: str = "sms"
    channel: str = ""

    def kinds(self) -> list[str]:
        """Which filters are in use — names only, never values (what the audit log keeps)."""
        used = [("search", bool(self.query.strip())), ("tag", bool(self.tag_id)),
                ("consent", self.consent in CONSENT_FILTERS), ("channel", self.channel in CHANNELS)]
        return [name for name, on in used if on]


@dataclass
class ContactListPage:
    """One page of the contact list, with each row's tag names."""

    page: Page
    rows: list[tuple[Contact, list[str]]] = field(default_factory=list)


def _own(actor: Actor) -> QuerySet:
    # The scope is the door's wall; the actor's organisation is the selector's own (a system actor
    # or an API key may run inside another scope by mistake: it still sees only its organisation).
    return Contact.objects.filter(organization_id=actor.organization_id)


def contact_count(*, actor: Actor) -> int:
    """How many contacts the actor's organisation has (no PHI: not audited)."""
    actor.require(Perm.CONTACTS_VIEW)
    return _own(actor).count()


def get_contact(*, actor: Actor, contact_id: int | str, audit_view: bool = True) -> Contact:
    """One contact of the actor's organisation, audited as viewed.

    Another organisation's id answers exactly like a missing one (404), so ids leak nothing.
    """
    actor.require(Perm.CONTACTS_VIEW)
    try:
        contact = _own(actor).get(pk=int(contact_id))
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise Http404("No such contact.") from None
    if audit_view:
        audit.record(AuditAction.CONTACT_VIEWED, target=contact, actor=actor)
    return contact


def find_by_phone(*, actor: Actor, organization: Organization, raw_phone: str) -> Contact | None:
    """The contact with this phone number, through the blind index (one indexed lookup)."""
    actor.require(Perm.CONTACTS_VIEW, organization)
    e164 = blind_index.normalize_phone(raw_phone, organization.default_region)
    return _with_phone_index(actor, blind_index.phone_index(organization.pk, e164)).first()


def _with_phone_index(actor: Actor, phone_index: str) -> QuerySet:
    # Oldest first: should two contacts ever share a phone, every path picks the same one.
    return _own(actor).filter(phone_index=phone_index).order_by("pk")


_NARROW = ("id", "organization_id", "sms_opted_in", "whatsapp_opted_in")


def contact_by_phone_index(*, actor: Actor, organization: Organization, phone_index: str) -> Contact | None:
    """The organisation's contact with this phone blind index, loaded narrow.

    Only the id and consent flags are read (no column is decrypted); other fields load on
    access. For hot paths that already computed the index (inbound webhooks): one statement
    written out, because building it through the ORM cost more than running it. It keeps the
    scoped manager's rules: no query outside a scope, nothing outside the scope's organisation.
    """
    actor.require(Perm.CONTACTS_VIEW, organization)
    if not in_scope_of(actor.organization_id):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_narrow_by_phone_index_sql(connection), [actor.organization_id, phone_index])
        row = cursor.fetchone()
    return None if row is None else Contact.from_db(connection.alias, list(_NARROW), row)


@functools.cache
def _narrow_sql_for(vendor: str, quote) -> str:
    columns = ", ".join(quote(Contact._meta.get_field(name).column) for name in _NARROW)
    table, org, index, pk = (quote(name) for name in
                             (Contact._meta.db_table, "organization_id", "phone_index", "id"))
    # Oldest first, like _with_phone_index: every path picks the same contact. Names come from
    # model metadata, values are bound, but for the partial unique index's own condition
    # (index not ''), written out so that a plan prepared for every run can use that index.
    return (f"SELECT {columns} FROM {table} WHERE {org} = %s AND {index} = %s "  # noqa: S608
            f"AND NOT ({index} = '') ORDER BY {pk} LIMIT 1")


def _narrow_by_phone_index_sql(conn) -> str:
    return _narrow_sql_for(conn.vendor, conn.ops.quote_name)


def search_kind(organization: Organization, query: str) -> str:
    """How a search is read: "phone", "email", "name" or "" (nothing typed). No value kept."""
    query = (query or "").strip()
    if not query:
        return ""
    if "@" in query:
        return "email"
    try:
        blind_index.normalize_phone(query, organization.default_region)
    except blind_index.InvalidPhoneNumber:
        return "name"
    return "phone"


def search_contacts(*, actor: Actor, organization: Organization, query: str) -> QuerySet:
    """Contacts matching a phone, an e-mail or name words — by blind index only (lazy, not
    audited: the caller that shows rows records the read, e.g. contact_list_page)."""
    actor.require(Perm.CONTACTS_VIEW, organization)
    query = (query or "").strip()
    kind = search_kind(organization, query)
    if not kind:
        return _own(actor)
    if kind == "email":
        return _own(actor).filter(email_index=blind_index.email_index(organization.pk, query))
    if kind == "phone":
        e164 = blind_index.normalize_phone(query, organization.default_region)
        return _own(actor).filter(phone_index=blind_index.phone_index(organization.pk, e164))
    digests = blind_index.name_indexes(organization.pk, query)
    if not digests:
        return _own(actor).none()
    qs = _own(actor)
    # Every word must match (AND), each through the token index.
    for d in digests:
        qs = qs.filter(pk__in=ContactNameToken.objects.filter(organization_id=actor.organization_id, digest=d)
                       .values("contact_id"))
    return qs


def filter_contacts(*, actor: Actor, organization: Organization, query: str = "", tag_id: int | None = None,
                    consent: str = "", consent_channel: str = "sms", channel: str = "") -> QuerySet:
    """The list's query: search plus tag, consent (per channel) and preferred-channel filters.

    Returns a lazy queryset (the export streams it; its own event records the read). Pages
    shown to a person go through contact_list_page, which records the list view.
    """
    qs = search_contacts(actor=actor, organization=organization, query=query)
    if tag_id:
        qs = qs.filter(pk__in=ContactTag.objects.filter(organization_id=actor.organization_id, tag_id=tag_id)
                       .values("contact_id"))
    if consent in CONSENT_FILTERS and consent_channel in CHANNELS:
        column = f"{consent_channel}_opted_in"
        qs = qs.filter(**({f"{column}__isnull": True} if consent == "unknown"
                          else {column: consent == "opted_in"}))
    if channel in CHANNELS:
        qs = qs.filter(preferred_channel=channel)
    return qs.order_by("-created_at", "-pk")


def contact_list_page(*, actor: Actor, organization: Organization, filters: ContactFilters,
                      page_number: object = 1, page_size: int = 50) -> ContactListPage:
    """One page of the (filtered) contact list with its rows' tags, audited as one
    CONTACTS_LIST_VIEWED event: page, row count, total and which filters (names, never values)."""
    qs = filter_contacts(actor=actor, organization=organization, query=filters.query, tag_id=filters.tag_id,
                         consent=filters.consent, consent_channel=filters.consent_channel,
                         channel=filters.channel)
    page = Paginator(qs, page_size).get_page(page_number)
    contacts = list(page)
    names = _tag_names(actor, [c.pk for c in contacts])
    audit.record(AuditAction.CONTACTS_LIST_VIEWED, organization=actor.organization_id, actor=actor, detail={
        "page": page.number, "rows": len(contacts), "total": page.paginator.count,
        "filters": filters.kinds(), "search": search_kind(organization, filters.query) or None,
    })
    return ContactListPage(page=page, rows=[(c, names.get(c.pk, [])) for c in contacts])


def tags(*, actor: Actor) -> QuerySet:
    """The actor's organisation's tags (no PHI)."""
    actor.require(Perm.CONTACTS_VIEW)
    return Tag.objects.filter(organization_id=actor.organization_id)


def get_tag(*, actor: Actor, tag_id: int | str) -> Tag:
    """One tag of the actor's organisation; another organisation's id is a 404."""
    actor.require(Perm.CONTACTS_VIEW)
    try:
        return Tag.objects.get(organization_id=actor.organization_id, pk=int(tag_id))
    except (Tag.DoesNotExist, ValueError, TypeError):
        raise Http404("No such tag.") from None


def tags_by_contact(*, actor: Actor, contact_ids: list[int]) -> dict[int, list[str]]:
    """Tag names for each of the given contacts, in one query."""
    actor.require(Perm.CONTACTS_VIEW)
    return _tag_names(actor, contact_ids)


def _tag_names(actor: Actor, contact_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    rows = (ContactTag.objects.filter(organization_id=actor.organization_id, contact_id__in=contact_ids)
            .order_by("tag__name").values_list("contact_id", "tag__name"))  # no instances: a page's tags
    for contact_id, name in rows:
        names.setdefault(contact_id, []).append(name)
    return names


# Consent predicates over a contact the caller already loaded through a selector: no query, no
# decryption (consent flags are plain columns), so no actor — they answer for the row in hand.
def is_opted_out(contact: Contact, channel: str) -> bool:
    """True only after an explicit opt-out on that channel (unknown consent is not an opt-out).

    Reads the one flag only: a contact loaded narrow (the webhook path) costs no extra query."""
    if channel not in CHANNELS:
        raise ValueError("channel must be 'sms' or 'whatsapp'")
    return getattr(contact, f"{channel}_opted_in") is False


def consent_state(contact: Contact, channel: str) -> ConsentState:
    """Where a contact stands on one channel ("sms" or "whatsapp"): opted_in, source, time."""
    if channel not in CHANNELS:
        raise ValueError("channel must be 'sms' or 'whatsapp'")
    return ConsentState(
        opted_in=getattr(contact, f"{channel}_opted_in"),
        source=getattr(contact, f"{channel}_consent_source"),
        changed_at=getattr(contact, f"{channel}_consent_at"),
    )


def recent_import_jobs(*, actor: Actor, limit: int = 5) -> list[ImportJob]:
    """The organisation's latest imports that got past the upload (their file names are PHI:
    shown only to those who may import)."""
    actor.require(Perm.CONTACTS_IMPORT)
    return list(ImportJob.objects.filter(organization_id=actor.organization_id)
                .exclude(status=ImportJob.Status.UPLOADED).order_by("-created_at")[:limit])


def get_import_job(*, actor: Actor, job_uuid) -> ImportJob:
    """An import job of the actor's organisation by its public id; another org's is a 404."""
    actor.require(Perm.CONTACTS_IMPORT)
    try:
        return ImportJob.objects.get(organization_id=actor.organization_id, uuid=job_uuid)
    except (ImportJob.DoesNotExist, ValueError):
        raise Http404("No such import.") from None
