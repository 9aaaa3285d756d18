"""Every read and write of contacts the intake bot makes (one place to adapt to contacts' API).

Completion may update the patient's record: empty fields are filled, a filled field that
disagrees becomes a conflict for staff. Nothing is overwritten silently.
"""

from __future__ import annotations

import datetime

from campaigns.intake.models import ContactFieldConflict, Submission
from contacts import custom_fields
from contacts.models import Contact
from contacts.selectors import get_contact
from contacts.services import update_contact

STANDARD_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone")


def contact_field_choices(*, actor) -> list[tuple[str, str]]:
    """The contact fields a question may fill (standard ones, then this organisation's custom fields)."""
    standard = [
        ("", "— none —"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        ("date_of_birth", "Date of birth"),
        ("email", "E-mail"),
        ("phone", "Phone"),
    ]
    return standard + [
        (f"custom:{key}", f"Custom: {field.label}")
        for key, field in sorted(custom_fields.definitions(actor=actor).items())
    ]


def contact_for_staff(*, contact_id: int, actor) -> Contact:
    """The contact staff start a questionnaire for (404 for another organisation's id; audited view)."""
    return get_contact(contact_id=contact_id, actor=actor)


def current_value(contact: Contact, field: str) -> str:
    """A contact field as comparable text ("" when empty)."""
    if field.startswith("custom:"):
        value = (contact.custom_values or {}).get(field[7:])
    else:
        value = getattr(contact, field, None)
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def same(field: str, current: str, proposed: str) -> bool:
    """Whether two values of ``field`` mean the same thing (case-insensitive names and e-mails)."""
    if field in ("first_name", "last_name", "email") or field.startswith("custom:"):
        return current.strip().casefold() == proposed.strip().casefold()
    return current.strip() == proposed.strip()


def apply_fields(*, contact: Contact, values: dict[str, str], actor) -> list[str]:
    """Write ``{field: value}`` to the contact through contacts' service; returns the fields written."""
    standard = {k: v for k, v in values.items() if k in STANDARD_FIELDS}
    custom = {k[7:]: v for k, v in values.items() if k.startswith("custom:")}
    if not standard and not custom:
        return []
    merged = None
    if custom:
        merged = dict(contact.custom_values or {})
        merged.update(custom)
    update_contact(contact=contact, actor=actor, custom_values=merged, **standard)
    return sorted(values)


def refresh(contact: Contact) -> Contact:
    """The contact as stored now (a concurrent edit may have changed it)."""
    return Contact.objects.get(pk=contact.pk)


def update_from_submission(*, session, submission, actor) -> None:
    """A completed submission's answers into the patient's record: empty fields are filled, a filled
    one that disagrees becomes a conflict for staff (the submission says which happened)."""
    contact = refresh(session.contact)
    fill: dict[str, str] = {}
    conflicts: list[tuple[str, str]] = []
    for question in session.version.questions:
        field, value = question.get("contact_field"), submission.answers.get(question["key"])
        if not field or value in (None, "", [], {}) or isinstance(value, dict):
            continue
        proposed = ", ".join(value) if isinstance(value, list) else str(value)
        current = current_value(contact, field)
        if not current:
            fill[field] = proposed
        elif not same(field, current, proposed):
            conflicts.append((field, proposed))
    if fill:
        try:
            apply_fields(contact=contact, values=fill, actor=actor)
        except ValueError:
            conflicts.extend(fill.items())  # the contact app refused a value: staff decide
            fill = {}
    for field, proposed in conflicts:
        ContactFieldConflict.objects.create(
            organization_id=session.organization_id, submission=submission, field=field, proposed=proposed
        )
    status = (
        Submission.ContactUpdate.CONFLICTS
        if conflicts
        else (Submission.ContactUpdate.APPLIED if fill else Submission.ContactUpdate.NONE)
    )
    if status != submission.contact_update:
        submission.contact_update = status
        submission.save(update_fields=["contact_update"])
