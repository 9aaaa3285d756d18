"""Custom field definitions and validation of their (encrypted) values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from django.db import transaction
from django.utils.text import slugify

import audit
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm
from audit import AuditAction
from contacts.models import CustomField
from contacts.values import parse_date, parse_number

TEXT_MAX = 1000


def clean_value(definition: CustomField, raw: object, region: str = "US"):
    """The stored form of one value (str, number, ISO date, or a listed choice); None when blank.

    Raises ValueError with a message ending in what to do — never containing the value.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return converter(definition, region)(raw)


def converter(definition: CustomField, region: str = "US") -> Callable[[object], object]:
    """clean_value for one field and a non-blank value, with the per-type choices made once
    (the importer calls it for every cell of a column)."""
    kind = definition.field_type
    if kind == CustomField.Type.NUMBER:
        return parse_number
    if kind == CustomField.Type.DATE:
        return lambda raw: parse_date(raw, region).isoformat()
    if kind == CustomField.Type.CHOICE:
        by_lower: dict[str, str] = {}
        for choice in definition.choices or []:
            by_lower.setdefault(choice.lower(), choice)  # the first listed spelling wins
        allowed = ", ".join(definition.choices or []) or "(none defined yet)"

        def clean_choice(raw: object) -> str:
            found = by_lower.get(str(raw).strip().lower())
            if found is None:
                raise ValueError(f"is not one of the allowed choices ({allowed})")
            return found

        return clean_choice

    def clean_text(raw: object) -> str:
        text = str(raw).strip()
        if len(text) > TEXT_MAX:
            raise ValueError(f"is longer than {TEXT_MAX} characters — shorten it")
        return text

    return clean_text


def definitions(*, actor: Actor) -> dict[str, CustomField]:
    """The actor's organisation's custom fields by key (definitions hold no PHI: not audited).

    Anyone who may read, edit or import contacts needs the definitions (an import-only API
    key maps its columns to them)."""
    if not any(actor.can(p) for p in (Perm.CONTACTS_EDIT, Perm.CONTACTS_IMPORT)):
        actor.require(Perm.CONTACTS_VIEW)
    return {f.key: f for f in CustomField.objects.filter(organization_id=actor.organization_id)}


def clean_values(values: Mapping[str, object], defs: Mapping[str, CustomField],
                 region: str = "US") -> dict:
    """Validate a {key: raw} mapping; unknown keys are refused (they would be invisible later)."""
    cleaned = {}
    for key, raw in values.items():
        definition = defs.get(key)
        if definition is None:
            raise ValueError(f"Custom field '{key}' is not defined — create it first (Contacts → Fields).")
        try:
            value = clean_value(definition, raw, region)
        except ValueError as exc:
            raise ValueError(f"{definition.label} {exc}.") from None
        if value is not None:
            cleaned[key] = value
    return cleaned


def unique_key(label: str, taken: Iterable[str]) -> str:
    """A slug key for a new field's label that no other field of the organisation uses."""
    base = slugify(label).replace("-", "_")[:40] or "field"
    if not base[0].isalpha():  # keys double as audit identifiers, which start with a letter
        base = f"f_{base}"
    taken = set(taken)
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _clean_definition(label: str, field_type: str, choices) -> tuple[str, list[str]]:
    if field_type not in CustomField.Type.values:
        raise ValueError("Choose a field type: text, number, date or choice.")
    label = (label or "").strip()[:100] or "Field"
    choices = [str(c).strip() for c in (choices or []) if str(c).strip()]
    return label, choices


@transaction.atomic
def define_custom_field(*, actor: Actor, organization: Organization, label: str, field_type: str,
                        choices: list[str] | None = None, key: str | None = None) -> CustomField:
    """Create a custom field (audited: CUSTOM_FIELD_CHANGED, detail names the key and type).

    Staff may define one (the import wizard creates fields for new columns).
    """
    actor.require(Perm.CONTACTS_EDIT, organization)
    label, choices = _clean_definition(label, field_type, choices)
    taken = CustomField.objects.filter(organization_id=organization.pk).values_list("key", flat=True)
    if key and key in set(taken):
        raise ValueError("Another custom field already uses this key — choose another one.")
    key = key or unique_key(label, taken)
    field = CustomField.objects.create(organization=organization, key=key, label=label,
                                       field_type=field_type, choices=choices)
    audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=field, actor=actor,
                 detail={"change": "created", "key": field.key, "field_type": field.field_type})
    return field


@transaction.atomic
def update_custom_field(*, actor: Actor, field: CustomField, label: str, field_type: str,
                        choices: list[str] | None = None) -> CustomField:
    """Change a field's label, type or choices (its key is fixed: imports and values refer to it).

    Changing the definition changes how every contact's value reads: admins only
    (ORG_SETTINGS_MANAGE). Audited with the names of the changed attributes.
    """
    actor.require(Perm.ORG_SETTINGS_MANAGE, field)
    label, choices = _clean_definition(label, field_type, choices)
    # Compared with the stored row: a door (the admin's form) may have set the new values already.
    stored = CustomField.objects.get(organization_id=actor.organization_id, pk=field.pk)
    wanted = {"label": label, "field_type": field_type, "choices": choices}
    changed = sorted(name for name, value in wanted.items()
                     if getattr(stored, name) != value)
    if changed:
        field.label, field.field_type, field.choices = label, field_type, choices
        field.save(update_fields=changed)
        audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=field, actor=actor,
                     detail={"change": "updated", "key": field.key, "fields": changed})
    return field


@transaction.atomic
def delete_custom_field(*, actor: Actor, field: CustomField) -> None:
    """Delete a field's definition (admins only); contacts' stored values under its key stay
    encrypted in place but are no longer shown or exported."""
    actor.require(Perm.ORG_SETTINGS_MANAGE, field)
    audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=field, actor=actor,
                 detail={"change": "deleted", "key": field.key})
    field.delete()
