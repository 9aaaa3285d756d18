"""Writes to contacts: normalise, encrypt (via fields), blind-index, audit — in one transaction.

The consent API (`set_consent`) is what the messaging keywords (STOP/START) call.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

import audit
from accounts import blind_index
from accounts.models import Organization
from audit import AuditAction
from billing.services import check_contacts
from contacts import custom_fields
from contacts.models import CHANNELS, Contact, ContactNameToken, ContactTag, Origin, Tag
from contacts.values import timezone_for_phone

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth",
                  "preferred_channel", "language", "timezone")
_PLAIN_DEFAULTS = {"preferred_channel": "sms", "language": "", "timezone": ""}


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
    for key, default in _PLAIN_DEFAULTS.items():
        if key in cleaned and cleaned[key] is None:
            cleaned[key] = default  # plain columns are NOT NULL: "unset" is their default
    for key in ("first_name", "last_name", "email", "phone"):
        if key in cleaned and isinstance(cleaned[key], str):
            cleaned[key] = cleaned[key].strip() or None
    if cleaned.get("phone"):
        cleaned["phone"] = blind_index.normalize_phone(cleaned["phone"], organization.default_region)
    if cleaned.get("email"):
        cleaned["email"] = blind_index.normalize_email(cleaned["email"])
    dob = cleaned.get("date_of_birth")
    if isinstance(dob, str):
        cleaned["date_of_birth"] = datetime.date.fromisoformat(dob) if dob else None
    if cleaned.get("preferred_channel") and cleaned["preferred_channel"] not in CHANNELS:
        raise ValueError("The preferred channel must be sms or whatsapp.")
    return cleaned


def _fill_timezone(contact: Contact) -> None:
    # Only when nobody told us: a stated time zone always wins over the phone's area.
    if not contact.timezone and contact.phone:
        contact.timezone = timezone_for_phone(contact.phone)


@transaction.atomic
def create_contact(*, organization: Organization, actor=None, origin: str = Origin.MANUAL,
                   custom_values: dict | None = None, tags: Iterable[str] = (), **values) -> Contact:
    """Create a contact; the phone is normalised to E.164 with the organisation's region.

    `origin` records how it arrived (manual, import, inbound, api); `custom_values` are
    validated against the organisation's custom-field definitions. Consent starts unknown.
    """
    if origin not in Origin.values:
        raise ValueError("origin must be manual, import, inbound or api")
    if origin != Origin.INBOUND:
        # The plan's contact cap (raises billing.QuotaExceeded). A patient who texts in is always
        # stored: refusing would lose their message, so inbound senders never hit the cap.
        check_contacts(organization_id=organization.pk, adding=1)
    contact = Contact(organization=organization, origin=origin, **_clean(organization, values))
    if custom_values:
        contact.custom_values = custom_fields.clean_values(custom_values, custom_fields.definitions(),
                                                           organization.default_region)
    _fill_timezone(contact)
    refresh_indexes(contact)
    contact.save()
    _replace_name_tokens([contact])
    tag_names = [t for t in tags if t and t.strip()]
    if tag_names:
        _attach_tags([contact.pk], _tags_named(organization, tag_names))
    fields = sorted(k for k, v in values.items() if v)
    audit.record(AuditAction.CONTACT_CREATED, target=contact, actor=actor,
                 detail={"fields": fields + (["custom_values"] if custom_values else []), "origin": origin})
    return contact


@transaction.atomic
def update_contact(*, contact: Contact, actor=None, custom_values: dict | None = None, **values) -> Contact:
    """Change some of a contact's fields; the audit event names the fields, never values.

    `custom_values`, when given, replaces the contact's custom values as a whole.
    """
    cleaned = _clean(contact.organization, values)
    before = {k: getattr(contact, k) for k in CONTACT_FIELDS}
    for key, value in cleaned.items():
        setattr(contact, key, value)
    if before["phone"] != contact.phone and not cleaned.get("timezone"):
        contact.timezone = ""  # a new number: derive its zone again
    _fill_timezone(contact)
    # Compared after derivation, so a blank time zone that is re-derived unchanged is no change.
    changed = sorted(k for k in CONTACT_FIELDS if getattr(contact, k) != before[k])
    if custom_values is not None:
        new = custom_fields.clean_values(custom_values, custom_fields.definitions(),
                                         contact.organization.default_region) or None
        if new != (contact.custom_values or None):
            changed.append("custom_values")
            contact.custom_values = new
    refresh_indexes(contact)
    contact.save()
    if {"first_name", "last_name"} & set(changed):
        _replace_name_tokens([contact])
    audit.record(AuditAction.CONTACT_UPDATED, target=contact, actor=actor,
                 detail={"fields": changed})
    return contact


@transaction.atomic
def delete_contact(*, contact: Contact, actor=None) -> None:
    """Delete a contact and everything hanging off it (name tokens, tags); audited first."""
    audit.record(AuditAction.CONTACT_DELETED, target=contact, actor=actor)
    contact.delete()


@transaction.atomic
def set_consent(*, contact: Contact, channel: str, opted_in: bool, source: str, actor=None) -> None:
    """Record an opt-in or opt-out on one channel ("sms" or "whatsapp").

    `source` says where it came from ("keyword:STOP", "keyword:START", "import", "staff",
    "api"). Records the time and audits CONSENT_CHANGED (channel, opted_in, source).
    Idempotent: when the contact is already in that state, nothing is written or audited.
    """
    if channel not in CHANNELS:
        raise ValueError("channel must be 'sms' or 'whatsapp'")
    if not isinstance(opted_in, bool):
        raise TypeError("opted_in must be True or False")
    source = (source or "unknown")[:32]
    if getattr(contact, f"{channel}_opted_in") is opted_in:
        return
    now = timezone.now()
    setattr(contact, f"{channel}_opted_in", opted_in)
    setattr(contact, f"{channel}_consent_source", source)
    setattr(contact, f"{channel}_consent_at", now)
    # A targeted UPDATE of plain columns: encrypted values are not re-encrypted for nothing.
    Contact.objects.filter(pk=contact.pk).update(**{
        f"{channel}_opted_in": opted_in, f"{channel}_consent_source": source,
        f"{channel}_consent_at": now, "updated_at": now,
    })
    audit.record(AuditAction.CONSENT_CHANGED, target=contact, actor=actor,
                 detail={"channel": channel, "opted_in": opted_in, "source": _audit_safe(source)})


def _audit_safe(source: str) -> str:
    # Audit detail accepts identifiers only; sources are ours ("keyword:STOP"), but be strict.
    cleaned = "".join(ch if ch.isalnum() or ch in "_.:-/" else "_" for ch in source)
    return cleaned if cleaned[:1].isalpha() else f"s_{cleaned}"[:64]


# --- Tags --------------------------------------------------------------------------------------

def _tags_named(organization: Organization, names: Iterable[str]) -> list[Tag]:
    wanted = {n.strip()[:50] for n in names if n and n.strip()}
    existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(organization=organization, name=n) for n in sorted(wanted - set(existing))]
    Tag.objects.bulk_create(missing, ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=wanted))


def _attach_tags(contact_ids: Iterable[int], tags: list[Tag]) -> None:
    ContactTag.objects.bulk_create(
        [ContactTag(organization_id=t.organization_id, contact_id=cid, tag=t)
         for cid in contact_ids for t in tags],
        ignore_conflicts=True, batch_size=2000,
    )


@transaction.atomic
def tag_contacts(*, organization: Organization, contact_ids: Iterable[int], tag_name: str,
                 remove: bool = False, actor=None) -> int:
    """Add (or remove) one tag on many contacts of the current organisation; returns how many.

    Ids of other organisations' contacts are silently out of scope (the scoped manager).
    """
    name = (tag_name or "").strip()[:50]
    if not name:
        raise ValueError("Type a tag name, e.g. 'flu-2025'.")
    ids = list(Contact.objects.filter(pk__in=list(contact_ids)).values_list("pk", flat=True))
    if remove:
        tag = Tag.objects.filter(name=name).first()
        count = ContactTag.objects.filter(tag=tag, contact_id__in=ids).delete()[0] if tag else 0
    else:
        tags = _tags_named(organization, [name])
        before = ContactTag.objects.filter(tag__in=tags, contact_id__in=ids).count()
        _attach_tags(ids, tags)
        count = len(ids) - before
    if count:
        audit.record(AuditAction.CONTACTS_TAGGED, organization=organization, actor=actor,
                     detail={"tag_id": (tags[0].pk if not remove else tag.pk), "removed": remove,
                             "contacts": count})
    return count
