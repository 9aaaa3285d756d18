"""Turning one row of text cells into clean contact values, or into reasons it cannot be imported.

This is the importer's hot path (100k+ rows): phone parsing — the expensive part — is cached
by the raw cell text, and blind indexes are computed here so the writer only talks to the DB.
Reasons never quote the cell's value (error files must not copy PHI around).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass, field

from accounts import blind_index
from contacts import custom_fields
from contacts.importing.mapping import IGNORE
from contacts.models import Channel, CustomField
from contacts.values import parse_date, parse_yes_no, timezone_for_phone

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHANNELS = {"sms": Channel.SMS, "text": Channel.SMS, "texto": Channel.SMS,
             "whatsapp": Channel.WHATSAPP, "wa": Channel.WHATSAPP, "whats app": Channel.WHATSAPP}
_LIMITS = {"first_name": 100, "last_name": 100, "email": 254, "language": 16}
_NAMES = {"first_name": "first name", "last_name": "last name", "email": "e-mail", "language": "language"}
_ZONES: frozenset[str] = frozenset()


@dataclass(slots=True)
class CleanRow:
    number: int
    values: dict
    phone_index: str
    custom: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    consent: dict[str, bool] = field(default_factory=dict)
    email_index: str = ""
    name_digests: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Issue:
    row: int
    result: str  # "failed" or "skipped"
    column: str
    reason: str

    def sentence(self) -> str:
        where = f" ({self.column})" if self.column else ""
        return f"Row {self.row}{where}: {self.reason}"


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(zoneinfo.available_timezones())
    return _ZONES


class RowNormaliser:
    """Cleans rows for one import: one organisation, region, header and mapping."""

    def __init__(self, *, organization_id: int, region: str, headers: list[str], mapping: list[str],
                 defs: dict[str, CustomField]):
        self.organization_id = organization_id
        self.region = region
        self.defs = defs
        self.columns = [(i, t, (headers[i] if i < len(headers) else f"column {i + 1}"))
                        for i, t in enumerate(mapping)
                        if t != IGNORE and not (t.startswith("custom:") and t[7:] not in defs)]
        # raw phone text → (e164, blind index, time zone), or the reason it is not a phone
        self._phones: dict[str, tuple[str, str, str] | str] = {}

    def phone(self, raw: str) -> tuple[str, str, str] | str:
        cached = self._phones.get(raw)
        if cached is None:
            try:
                # A leading apostrophe is how spreadsheets (and our export) keep "+1…" as text.
                e164 = blind_index.normalize_phone(raw.lstrip("'"), self.region)
            except blind_index.InvalidPhoneNumber:
                cached = ("the phone number is not a valid number for its country — fix it (numbers from "
                          "other countries need their +code) or remove the row and import again")
            else:
                cached = (e164, blind_index.phone_index(self.organization_id, e164), timezone_for_phone(e164))
            if len(self._phones) >= 100_000:  # bounded: a 1M-row file must not grow memory without limit
                self._phones.clear()
            self._phones[raw] = cached
        return cached

    def __call__(self, number: int, cells: list[str]) -> CleanRow | list[Issue]:
        values: dict = {}
        custom: dict = {}
        tags: list[str] = []
        consent: dict[str, bool] = {}
        issues: list[Issue] = []
        phone = None
        ncells = len(cells)
        for i, target, header in self.columns:
            raw = cells[i].strip() if i < ncells else ""
            if not raw:
                continue
            try:
                if target == "phone":
                    phone = self.phone(raw)
                    if isinstance(phone, str):
                        raise ValueError(phone)
                elif target in _LIMITS:
                    if len(raw) > _LIMITS[target]:
                        raise ValueError(f"the {_NAMES[target]} is longer than {_LIMITS[target]} characters "
                                         "— shorten it")
                    if target == "email":
                        if not _EMAIL.match(raw):
                            raise ValueError("is not an e-mail address — fix it or clear the cell")
                        raw = raw.lower()
                    values[target] = raw
                elif target == "full_name":
                    self._split_name(raw, values)
                elif target == "date_of_birth":
                    dob = parse_date(raw, self.region)
                    if not datetime.date(1880, 1, 1) <= dob <= datetime.date.today():
                        raise ValueError("is not a plausible date of birth — check the year")
                    values["date_of_birth"] = dob
                elif target == "preferred_channel":
                    channel = _CHANNELS.get(raw.lower())
                    if channel is None:
                        raise ValueError("must be sms or whatsapp (or blank)")
                    values["preferred_channel"] = channel
                elif target == "timezone":
                    if raw not in _zones():
                        raise ValueError("is not a time zone name such as America/New_York "
                                         "— fix it or clear it")
                    values["timezone"] = raw
                elif target in ("sms_consent", "whatsapp_consent"):
                    opted_in = parse_yes_no(raw)
                    if opted_in is not None:
                        consent[target.split("_", 1)[0]] = opted_in
                elif target == "tags":
                    tags = [t.strip()[:50] for t in re.split(r"[,;|]", raw) if t.strip()]
                elif target.startswith("custom:"):
                    definition = self.defs[target[7:]]
                    custom[definition.key] = custom_fields.clean_value(definition, raw, self.region)
            except ValueError as exc:
                issues.append(Issue(number, "failed", header, _sentence(exc)))
        if phone is None and not issues:
            issues.append(Issue(number, "failed", "",
                                "there is no phone number — add one, or remove the row and import again"))
        if issues:
            return issues
        e164, phone_index, zone = phone
        values["phone"] = e164
        if "timezone" not in values and zone:
            values["timezone"] = zone
        org = self.organization_id
        row = CleanRow(number, values, phone_index, custom, tags, consent)
        if "email" in values:
            row.email_index = blind_index.digest(org, "email", values["email"])
        row.name_digests = blind_index.name_indexes(org, values.get("first_name"), values.get("last_name"))
        return row

    @staticmethod
    def _split_name(raw: str, values: dict) -> None:
        if "," in raw:  # "Curie, Marie"
            last, _, first = raw.partition(",")
        else:
            first, _, last = raw.rpartition(" ")
            if not first:
                first, last = last, ""
        first, last = first.strip(), last.strip()
        if len(first) > 100 or len(last) > 100:
            raise ValueError("the name is longer than 100 characters — shorten it")
        if first:
            values["first_name"] = first
        if last:
            values["last_name"] = last


def _sentence(exc: Exception) -> str:
    text = str(exc)
    if text.startswith(("is ", "must ")):
        return f"the value {text}"
    return text
