"""The one contact normaliser: raw values → what a Contact stores, or every reason why not.

``create_contact``/``update_contact`` run it on every write; the importer is meant to run the
same rules, either the whole normaliser per row or — on its hot path — one converter per
mapped column from ``ContactNormaliser.field(name)``. It never queries the database (it may
run in an import worker process); the duplicate-phone check, which needs the database, is the
service's. Messages come from ``accounts.validators`` and never quote a value.

Usage::

    normalise = ContactNormaliser(region=organization.default_region)
    clean = normalise({"first_name": " Ada ", "phone": "(415) 555-0199"})  # raises InvalidContact
    to_e164 = normalise.field("phone")                                    # raises InvalidValue
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from accounts import validators
from accounts.validators import InvalidValue
from contacts.models import CHANNELS
from contacts.values import parse_date

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth",
                  "preferred_channel", "language", "timezone")
# Plain (unencrypted) columns are NOT NULL: "unset" is their default, not None.
PLAIN_DEFAULTS = {"preferred_channel": "sms", "language": "", "timezone": ""}


class InvalidContact(ValueError):
    """One or more values were refused; ``errors`` maps each field to what to do about it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


@dataclass(frozen=True)
class ContactNormaliser:
    """The rules for one organisation's contacts (its region reads national phone numbers and
    day/month order in dates)."""

    region: str = "US"
    today: datetime.date | None = None

    def field(self, name: str) -> Callable[[object], object]:
        """The converter of one non-blank value of ``name``; raises InvalidValue."""
        if name in ("first_name", "last_name"):
            return lambda raw: validators.validate_name(raw, field=name) or None
        if name == "phone":
            return lambda raw: validators.validate_phone(raw, self.region)
        if name == "email":
            return validators.validate_email
        if name == "date_of_birth":
            return self._date_of_birth
        if name == "preferred_channel":
            return _channel
        if name == "language":
            return validators.validate_language
        if name == "timezone":
            return validators.validate_timezone
        raise KeyError(name)

    def __call__(self, values: Mapping[str, object]) -> dict:
        """The stored form of the contact fields in ``values`` (other keys are ignored).

        Blank values clear the field (None, or the default of a plain column). Raises
        InvalidContact naming every refused field.
        """
        cleaned: dict = {}
        errors: dict[str, str] = {}
        for name in CONTACT_FIELDS:
            if name not in values:
                continue
            raw = values[name]
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                cleaned[name] = PLAIN_DEFAULTS.get(name)
                continue
            try:
                cleaned[name] = self.field(name)(raw)
            except InvalidValue as exc:
                errors[name] = exc.message
        if errors:
            raise InvalidContact(errors)
        return cleaned

    def _date_of_birth(self, raw: object) -> datetime.date:
        if isinstance(raw, str):
            try:
                raw = parse_date(raw, self.region)
            except ValueError:
                raise InvalidValue("The date of birth is not a date — write it as YYYY-MM-DD, "
                                   "e.g. 1980-02-29.",
                                   field="date_of_birth") from None
        return validators.validate_date_of_birth(raw, today=self.today)


def _channel(raw: object) -> str:
    value = str(raw).strip().lower()
    if value not in CHANNELS:
        raise InvalidValue("The preferred channel must be SMS or WhatsApp.", field="preferred_channel")
    return value
