"""Custom field definitions and validation of their (encrypted) values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from django.db import transaction
from django.utils.text import slugify

import audit
from accounts.models import Organization
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


def definitions() -> dict[str, CustomField]:
    """The current organisation's custom fields by key."""
    return {f.key: f for f in CustomField.objects.all()}


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


@transaction.atomic
def define_custom_field(*, organization: Organization, label: str, field_type: str,
                        choices: list[str] | None = None, key: str | None = None, actor=None) -> CustomField:
    """Create a custom field (audited: CUSTOM_FIELD_CHANGED, detail names the key and type)."""
    if field_type not in CustomField.Type.values:
        raise ValueError("Choose a field type: text, number, date or choice.")
    label = label.strip()[:100] or "Field"
    key = key or unique_key(label, CustomField.objects.values_list("key", flat=True))
    field = CustomField.objects.create(organization=organization, key=key, label=label,
                                       field_type=field_type, choices=list(choices or []))
    audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=field, actor=actor,
                 detail={"change": "created", "key": field.key, "field_type": field.field_type})
    return field
