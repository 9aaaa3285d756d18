"""Shared validators for what people type and files hold: one rule per kind of value.

Contacts' services and forms call these; the importer, messaging's forms and the API
serializers are meant to call the same functions (keep the names stable). Each returns the
stored form of the value and raises ``InvalidValue`` — a ``ValidationError`` (forms show it)
that is also a ``ValueError`` (the importer reports it per row). Messages say what to do next
and never quote the value: it may be PHI.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from functools import cache, lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from accounts import blind_index

NAME_MAX = 100
EMAIL_MAX = 254
PHONE_INPUT_MAX = 32
LANGUAGE_MAX = 16
TIMEZONE_MAX = 64
# The oldest plausible patient: no one alive was born before this (a year typo such as 1890).
OLDEST_BIRTH = datetime.date(1900, 1, 1)

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_email = EmailValidator()
# Django's own local-part pattern, compiled here: it is a lazy object in Django, and going through
# that proxy cost 5 µs a call — most of an address's check, 100,000 times in an import.
_EMAIL_USER = re.compile(_email.user_regex.pattern, _email.user_regex.flags)


class InvalidValue(ValidationError, ValueError):
    """A value that cannot be stored; ``field`` names which one, the message says what to do."""

    def __init__(self, message: str, *, field: str = "", code: str = "invalid"):
        super().__init__(message, code=code)
        self.field = field

    def __str__(self) -> str:  # ValidationError's own str() is a list repr
        return self.message


def validate_phone(raw: object, region: str) -> str:
    """The E.164 form of a phone number that is valid for its country (phonenumbers'
    ``is_valid_number``; national numbers are read with the organisation's ``region``)."""
    text = "" if raw is None else str(raw).strip()
    if len(text) > PHONE_INPUT_MAX:
        raise InvalidValue(f"The phone number is longer than {PHONE_INPUT_MAX} characters — "
                           "type just the number, with its +country code if it is from abroad.",
                           field="phone")
    try:
        return blind_index.normalize_phone(text, region or "US")
    except blind_index.InvalidPhoneNumber:
        raise InvalidValue("This is not a valid phone number for its country — check the digits, and add "
                           "the +country code for numbers from abroad.", field="phone") from None


def validate_email(raw: object) -> str:
    """A lower-cased e-mail address of at most 254 characters: Django's address rules, with an
    internationalised local part allowed (RFC 6531: patients are "zoë.müller@…")."""
    text = str(raw).strip().lower()
    if len(text) > EMAIL_MAX:
        raise InvalidValue(f"The e-mail address is longer than {EMAIL_MAX} characters — check it.",
                           field="email")
    if not _django_valid_email(text) and not _internationalised_email(text):
        raise InvalidValue("This is not an e-mail address — write it like name@example.org, or leave "
                           "it empty.", field="email")
    return text


def _django_valid_email(text: str) -> bool:
    """``EmailValidator()(text)`` passes — the same steps, with the domain's answer remembered."""
    if not text or "@" not in text or len(text) > 320:
        return False
    user, domain = text.rsplit("@", 1)
    return bool(_EMAIL_USER.match(user)) and _valid_domain(domain)


@lru_cache(maxsize=4096)
def _valid_domain(domain: str) -> bool:
    """Django's e-mail domain rule (IDNA included), remembered: an import checks 100,000 addresses
    at a few hundred domains, and the domain pattern is most of the validator's cost."""
    return domain in _email.domain_allowlist or bool(_email.validate_domain_part(domain))


def _internationalised_email(text: str) -> bool:
    """A non-ASCII local part (no spaces, controls, quotes or a second "@") at a valid domain."""
    local, at, domain = text.rpartition("@")
    if not at or not local or len(local) > 64 or local.startswith(".") or local.endswith("."):
        return False
    if ".." in local or any(c.isspace() or not c.isprintable() or c in '"(),:;<>[\\]@' for c in local):
        return False
    return _valid_domain(domain)  # the domain by Django's rules (IDNA included)


def validate_length(raw: object, *, max_length: int, label: str, field: str = "") -> str:
    """Stripped text of at most ``max_length`` characters (``label`` names it in the message)."""
    text = str(raw).strip()
    if len(text) > max_length:
        raise InvalidValue(f"The {label} is longer than {max_length} characters — shorten it.", field=field)
    return text


def validate_name(raw: object, *, field: str = "first_name") -> str:
    """A first or last name: stripped, at most 100 characters."""
    return validate_length(raw, max_length=NAME_MAX, label=field.replace("_", " "), field=field)


def validate_date_of_birth(raw: object, *, today: datetime.date | None = None) -> datetime.date:
    """A date of birth (a date or ISO ``YYYY-MM-DD`` text) that is not in the future and not
    before 1900."""
    if isinstance(raw, datetime.datetime):
        raw = raw.date()
    if isinstance(raw, datetime.date):
        value = raw
    else:
        try:
            value = datetime.date.fromisoformat(str(raw).strip())
        except ValueError:
            raise InvalidValue("The date of birth is not a date — write it as YYYY-MM-DD, e.g. 1980-02-29.",
                               field="date_of_birth") from None
    today = today or datetime.date.today()
    if value > today:
        raise InvalidValue("The date of birth is in the future — check the year.", field="date_of_birth")
    if value < OLDEST_BIRTH:
        raise InvalidValue(f"The date of birth is before {OLDEST_BIRTH.year} — check the year.",
                           field="date_of_birth")
    return value


def validate_language(raw: object) -> str:
    """A language tag such as ``en``, ``es`` or ``fr-CA`` (BCP 47 shape, at most 16 characters)."""
    text = str(raw).strip()
    if len(text) > LANGUAGE_MAX or not _LANGUAGE.match(text):
        raise InvalidValue("The language is not a language code — write it like en, es or fr-CA.",
                           field="language")
    primary, *rest = re.split(r"[-_]", text)
    # The conventional casing: language lower, region upper, script title ("zh-Hant-TW").
    parts = [primary.lower()] + [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower()
                                 for p in rest]
    return "-".join(parts)


def validate_timezone(raw: object) -> str:
    """An IANA time zone name such as ``America/New_York``."""
    text = str(raw).strip()
    if len(text) > TIMEZONE_MAX or text not in _zones():
        raise InvalidValue("The time zone is not a time zone name such as America/New_York — fix it, or "
                           "leave it empty to derive it from the phone number.", field="timezone")
    return text


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
