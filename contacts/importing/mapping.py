"""Column mapping: what each column of the file becomes, guessed from its header and from what
the organisation chose last time (remembered by a keyed digest of the header, never the header).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from accounts import blind_index
from contacts.models import CustomField, ImportColumnMemory

IGNORE = "ignore"
STANDARD_TARGETS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "phone": "Phone",
    "email": "E-mail",
    "date_of_birth": "Date of birth",
    "preferred_channel": "Preferred channel (sms / whatsapp)",
    "language": "Language",
    "timezone": "Time zone",
    "sms_consent": "SMS consent (yes / no)",
    "whatsapp_consent": "WhatsApp consent (yes / no)",
    "tags": "Tags (comma-separated)",
}
NEW_FIELD_TYPES = tuple(CustomField.Type.values)
_SYNONYMS = {
    "first_name": {"first name", "firstname", "first", "given name", "forename", "prenom", "nombre"},
    "last_name": {"last name", "lastname", "last", "surname", "family name", "nom", "apellido"},
    "full_name": {"name", "full name", "patient", "patient name", "contact name"},
    "phone": {"phone", "phone number", "mobile", "mobile phone", "cell", "cell phone", "telephone", "tel",
              "mobile number", "whatsapp", "sms", "number", "telefono", "telefone"},
    "email": {"email", "e mail", "email address", "mail", "courriel"},
    "date_of_birth": {"dob", "date of birth", "birth date", "birthdate", "birthday", "born"},
    "preferred_channel": {"channel", "preferred channel"},
    "language": {"language", "lang", "preferred language", "locale"},
    "timezone": {"timezone", "time zone", "tz"},
    "sms_consent": {"sms consent", "sms opt in", "consent", "opt in", "sms opted in", "text consent"},
    "whatsapp_consent": {"whatsapp consent", "whatsapp opt in"},
    "tags": {"tags", "tag", "labels", "groups"},
}


_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")


def looks_like_data(cell: str) -> bool:
    """Whether a cell reads like a patient's value (a phone, an e-mail, a date, a number) rather
    than a column name. A column name never comes out of such a cell."""
    text = cell.strip()
    if not text:
        return False
    digits = sum(ch.isdigit() for ch in text)
    return (digits >= 7 or bool(_EMAIL_LIKE.search(text)) or bool(_DATE_LIKE.match(text))
            or text.replace(".", "", 1).replace(",", "").isdigit() or len(text) > 60)


def is_header_row(cells: list[str], defs: dict[str, CustomField]) -> bool:
    """Whether a file's first non-blank row names its columns (else it is the first data row).

    A row is a header when any cell is a known column name (a synonym or a custom field), or
    when none of its cells reads like a value.
    """
    known = {n for names in _SYNONYMS.values() for n in names}
    known |= {normalise_header(d.label) for d in defs.values()} | {normalise_header(k) for k in defs}
    if any(normalise_header(c) in known for c in cells if c.strip()):
        return True
    return not any(looks_like_data(c) for c in cells)


def column_names(count: int) -> list[str]:
    """The names of a header-less file's columns: "Column 1" … "Column N"."""
    return [f"Column {i + 1}" for i in range(count)]


def guess_from_values(samples: list[list[str]], count: int, region: str) -> list[str]:
    """A header-less file's targets, from what its first rows hold: the first column of phone
    numbers becomes Phone and the first of e-mail addresses E-mail; the rest are ignored."""
    targets = [IGNORE] * count
    tests = (("phone", lambda v: _is_phone(v, region)), ("email", lambda v: bool(_EMAIL_LIKE.fullmatch(v))))
    for target, test in tests:
        for i in range(count):
            values = [row[i].strip() for row in samples if i < len(row) and row[i].strip()]
            if targets[i] == IGNORE and values and sum(map(test, values)) * 2 > len(values):
                targets[i] = target
                break
    return targets


def _is_phone(value: str, region: str) -> bool:
    try:
        blind_index.normalize_phone(value.lstrip("'"), region)
    except blind_index.InvalidPhoneNumber:
        return False
    return True


def normalise_header(header: str) -> str:
    folded = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return " ".join(re.split(r"[^a-z0-9]+", folded)).strip()


def header_digest(organization_id: int, header: str) -> str:
    # Keyed per organisation (derived from its blind-index key) so the table reveals nothing.
    key = blind_index.digest(organization_id, "name", "import-header")
    return hmac.new(key.encode(), normalise_header(header).encode(), hashlib.sha256).hexdigest()


def target_label(target: str, defs: dict[str, CustomField]) -> str:
    if target in STANDARD_TARGETS:
        return STANDARD_TARGETS[target]
    if target.startswith("custom:") and target[7:] in defs:
        return f"Custom field: {defs[target[7:]].label}"
    if target.startswith("new:"):
        return f"New {target[4:]} field"
    return "Ignore this column"


def choices(defs: dict[str, CustomField]) -> list[tuple[str, str]]:
    """Every target a column can map to, as (value, label) for the mapping form."""
    options = [(IGNORE, "Ignore this column")]
    options += list(STANDARD_TARGETS.items())
    options += [(f"custom:{k}", f"Custom field: {d.label} ({d.field_type})") for k, d in defs.items()]
    options += [(f"new:{t}", f"New custom field ({t})") for t in NEW_FIELD_TYPES]
    return options


def guess(organization_id: int, headers: list[str], defs: dict[str, CustomField]) -> list[str]:
    """A target per column: the remembered choice, else a synonym, else a same-named custom field."""
    digests = [header_digest(organization_id, h) for h in headers]
    remembered = dict(ImportColumnMemory.objects.filter(header_digest__in=digests)
                      .values_list("header_digest", "target"))
    by_label = {normalise_header(d.label): f"custom:{k}" for k, d in defs.items()}
    by_label.update({normalise_header(k): f"custom:{k}" for k in defs})
    targets: list[str] = []
    for header, digest in zip(headers, digests, strict=True):
        norm = normalise_header(header)
        target = remembered.get(digest)
        if target and target.startswith("custom:") and target[7:] not in defs:
            target = None  # the field was deleted since
        if target is None:
            target = next((t for t, names in _SYNONYMS.items() if norm in names), None)
        if target is None:
            target = by_label.get(norm, IGNORE)
        if target != IGNORE and target in targets:
            target = IGNORE  # one column per target; the first one wins
        targets.append(target)
    return targets


def validate(mapping: list[str], defs: dict[str, CustomField], column_count: int) -> list[str]:
    """Problems with a chosen mapping, each a sentence saying what to change."""
    problems = []
    if len(mapping) != column_count:
        problems.append("The mapping does not match the file's columns — start the import again.")
        return problems
    valid = {v for v, _ in choices(defs)}
    if any(t not in valid for t in mapping):
        problems.append("A column is mapped to a field that no longer exists — choose again.")
    used = [t for t in mapping if t != IGNORE and not t.startswith("new:")]
    for target in sorted({t for t in used if used.count(t) > 1}):
        problems.append(f"Two columns are mapped to “{target_label(target, defs)}” — "
                        "map one of them to something else or ignore it.")
    if "phone" not in mapping:
        problems.append("Map one column to Phone: contacts are matched and messaged by phone number.")
    if "full_name" in mapping and ({"first_name", "last_name"} & set(mapping)):
        problems.append("Use either Full name or First/Last name columns, not both.")
    return problems


def remember(organization, headers: list[str], mapping: list[str]) -> None:
    """Store each header's target so the next import with the same headers is pre-filled."""
    for header, target in zip(headers, mapping, strict=True):
        if not header.strip():
            continue
        ImportColumnMemory.objects.update_or_create(
            organization=organization, header_digest=header_digest(organization.pk, header),
            defaults={"target": target},
        )
