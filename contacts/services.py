"""Writes to contacts: normalise, encrypt (via fields), blind-index, audit — in one transaction.

The consent API (`set_consent`) is what the messaging keywords (STOP/START) call.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from accounts import blind_index
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm
from audit import AuditAction
from billing.services import check_contacts
from contacts import custom_fields, partner_events
from contacts import tags as tags_mod
from contacts.models import CHANNELS, Contact, ContactNameToken, Origin
from contacts.normaliser import CONTACT_FIELDS, ContactNormaliser, InvalidContact
from contacts.values import timezone_for_phone

__all__ = ["CONTACT_FIELDS", "DuplicatePhone", "InvalidContact", "check_contact", "create_contact",
           "delete_contact", "set_consent", "update_contact"]

# The partial unique constraint on (organization, phone_index) where phone_index <> '': the
# database's word when two writers race past the pre-check (an import and a manual create).
PHONE_CONSTRAINT = "contact_unique_phone"
DUPLICATE_PHONE_MESSAGE = ("Another contact of your organisation already has this phone number — open "
                           "that contact and update it there instead of adding a second one (or delete "
                           "one of the two if they are the same patient).")


class DuplicatePhone(InvalidContact):
    """The phone belongs to another contact already; ``existing_id`` is that contact (when known)."""

    def __init__(self, existing_id: int | None = None):
        self.existing_id = existing_id
        super().__init__({"phone": DUPLICATE_PHONE_MESSAGE})


def _refresh_indexes(contact: Contact) -> None:
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


def _fill_timezone(contact: Contact) -> None:
    # Only when nobody told us: a stated time zone always wins over the phone's area.
    if not contact.timezone and contact.phone:
        contact.timezone = timezone_for_phone(contact.phone)


def _refuse_duplicate_phone(organization_id: int, phone_index: str, exclude_pk: int | None) -> None:
    # The pre-check, through the blind index (one indexed lookup, nothing decrypted). The database
    # constraint catches what races past it (see _save).
    if not phone_index:
        return
    others = Contact.objects.filter(organization_id=organization_id, phone_index=phone_index)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    existing = others.order_by("pk").values_list("pk", flat=True).first()
    if existing is not None:
        raise DuplicatePhone(existing)


def is_phone_conflict(exc: IntegrityError) -> bool:
    """Whether an IntegrityError is the ``contact_unique_phone`` constraint refusing a second
    contact with one phone (PostgreSQL names it; SQLite names the columns)."""
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return name == PHONE_CONSTRAINT
    text = str(exc)
    return PHONE_CONSTRAINT in text or ("UNIQUE" in text and "phone_index" in text)


def _save(contact: Contact) -> None:
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as exc:
        if is_phone_conflict(exc):
            raise DuplicatePhone() from None
        raise


def check_contact(*, actor: Actor, organization: Organization, values: dict,
                  contact: Contact | None = None) -> dict:
    """Validate contact values without saving: the normalised values, or InvalidContact (by field;
    DuplicatePhone when another contact has the phone). For forms that show errors in place (admin)."""
    actor.require(Perm.CONTACTS_EDIT, contact if contact is not None else organization)
    cleaned = ContactNormaliser(region=organization.default_region)(values)
    if cleaned.get("phone"):
        _refuse_duplicate_phone(organization.pk, blind_index.phone_index(organization.pk, cleaned["phone"]),
                                contact.pk if contact is not None else None)
    return cleaned


@transaction.atomic
def create_contact(*, actor: Actor, organization: Organization, origin: str = Origin.MANUAL,
                   custom_values: dict | None = None, tags: Iterable[str] = (), **values) -> Contact:
    """Create a contact; every value goes through the contact normaliser (phone → E.164 with the
    organisation's region, e-mail, names, date of birth, language, time zone).

    `origin` records how it arrived (manual, import, inbound, api); `custom_values` are
    validated against the organisation's custom-field definitions. Consent starts unknown.
    Raises InvalidContact (by field), DuplicatePhone when the phone is another contact's.
    """
    actor.require(Perm.CONTACTS_EDIT, organization)
    if origin not in Origin.values:
        raise ValueError("origin must be manual, import, inbound or api")
    if origin != Origin.INBOUND:
        # The plan's contact cap (raises billing.QuotaExceeded). A patient who texts in is always
        # stored: refusing would lose their message, so inbound senders never hit the cap.
        check_contacts(organization_id=organization.pk, adding=1)
    cleaned = ContactNormaliser(region=organization.default_region)(values)
    contact = Contact(organization=organization, origin=origin, **cleaned)
    if custom_values:
        contact.custom_values = custom_fields.clean_values(
            custom_values, custom_fields.definitions(actor=actor), organization.default_region)
    _fill_timezone(contact)
    _refresh_indexes(contact)
    _refuse_duplicate_phone(organization.pk, contact.phone_index, None)
    _save(contact)
    _replace_name_tokens([contact])
    tag_names = [t for t in _tag_list(tags) if t and t.strip()]
    if tag_names:
        tags_mod.attach(actor=actor, contact_ids=[contact.pk],
                        tags=tags_mod.tags_named(actor=actor, names=tag_names))
    fields = sorted(k for k, v in values.items() if v)
    audit.record(AuditAction.CONTACT_CREATED, target=contact, actor=actor,
                 detail={"fields": fields + (["custom_values"] if custom_values else []), "origin": origin})
    return contact


@transaction.atomic
def update_contact(*, actor: Actor, contact: Contact, custom_values: dict | None = None, **values) -> Contact:
    """Change some of a contact's fields; the audit event names the fields, never values.

    `custom_values`, when given, replaces the contact's custom values as a whole. Raises like
    create_contact.
    """
    actor.require(Perm.CONTACTS_EDIT, contact)
    region = contact.organization.default_region
    cleaned = ContactNormaliser(region=region)(values)
    before = {k: getattr(contact, k) for k in CONTACT_FIELDS}
    for key, value in cleaned.items():
        setattr(contact, key, value)
    if before["phone"] != contact.phone and not cleaned.get("timezone"):
        contact.timezone = ""  # a new number: derive its zone again
    _fill_timezone(contact)
    # Compared after derivation, so a blank time zone that is re-derived unchanged is no change.
    changed = sorted(k for k in CONTACT_FIELDS if getattr(contact, k) != before[k])
    if custom_values is not None:
        new = custom_fields.clean_values(custom_values, custom_fields.definitions(actor=actor),
                                         region) or None
        if new != (contact.custom_values or None):
            changed.append("custom_values")
            contact.custom_values = new
    _refresh_indexes(contact)
    if "phone" in changed:
        _refuse_duplicate_phone(contact.organization_id, contact.phone_index, contact.pk)
    _save(contact)
    if {"first_name", "last_name"} & set(changed):
        _replace_name_tokens([contact])
    audit.record(AuditAction.CONTACT_UPDATED, target=contact, actor=actor,
                 detail={"fields": changed})
    return contact


@transaction.atomic
def delete_contact(*, actor: Actor, contact: Contact) -> None:
    """Delete a contact and everything hanging off it (name tokens, tags); audited first."""
    actor.require(Perm.CONTACTS_DELETE, contact)
    audit.record(AuditAction.CONTACT_DELETED, target=contact, actor=actor)
    contact.delete()


@transaction.atomic
def set_consent(*, actor: Actor, contact: Contact, channel: str, opted_in: bool, source: str) -> None:
    """Record an opt-in or opt-out on one channel ("sms" or "whatsapp").

    `source` says where it came from ("keyword:STOP", "keyword:START", "import", "staff",
    "api"). Records the time and audits CONSENT_CHANGED (channel, opted_in, source).
    Idempotent: when the contact is already in that state, nothing is written or audited.
    """
    actor.require(Perm.CONTACTS_EDIT, contact)
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
    Contact.objects.filter(pk=contact.pk, organization_id=actor.organization_id).update(**{
        f"{channel}_opted_in": opted_in, f"{channel}_consent_source": source,
        f"{channel}_consent_at": now, "updated_at": now,
    })
    audit.record(AuditAction.CONSENT_CHANGED, target=contact, actor=actor,
                 detail={"channel": channel, "opted_in": opted_in, "source": _audit_safe(source)})
    if not opted_in:
        partner_events.announce_opted_out(contact, channel, _audit_safe(source))


def _tag_list(names: Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _audit_safe(source: str) -> str:
    # Audit detail accepts identifiers only; sources are ours ("keyword:STOP"), but be strict.
    cleaned = "".join(ch if ch.isalnum() or ch in "_.:-/" else "_" for ch in source)
    return cleaned if cleaned[:1].isalpha() else f"s_{cleaned}"[:64]
