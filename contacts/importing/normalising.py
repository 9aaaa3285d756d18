"""Turning one row of text cells into clean contact values, or into reasons it cannot be imported.

This is the importer's hot path (100k+ rows): each mapped column gets its converter once, so a
cell costs one call instead of a walk down the list of targets; phone parsing — the expensive
part — is cached by the raw cell text; blind indexes are computed here so the writer only talks
to the DB. Nothing here queries the database (it may run in a worker process: the blind-index
keys come in an Indexer). Reasons never quote the cell's value (error files must not copy PHI).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from accounts import blind_index
from contacts import custom_fields
from contacts.importing.mapping import IGNORE
from contacts.models import Channel, CustomField
from contacts.normaliser import ContactNormaliser
from contacts.values import parse_yes_no, timezone_for_phone

_TAG_SEPARATORS = re.compile(r"[,;|]")
_CHANNELS = {"sms": Channel.SMS, "text": Channel.SMS, "texto": Channel.SMS,
             "whatsapp": Channel.WHATSAPP, "wa": Channel.WHATSAPP, "whats app": Channel.WHATSAPP}
_LIMITS = {"first_name": 100, "last_name": 100, "email": 254, "language": 16}
_NAMES = {"first_name": "first name", "last_name": "last name", "email": "e-mail", "language": "language"}
_NOT_A_PHONE = ("the phone number is not a valid number for its country — fix it (numbers from "
                "other countries need their +code) or remove the row and import again")
_NO_PHONE = "there is no phone number — add one, or remove the row and import again"
_ZONES: frozenset[str] = frozenset()


@dataclass(slots=True)
class CleanRow:
    """One row ready to write. Once prepared (contacts.importing.preparing), the values of
    encrypted columns, custom values included, are in `sealed` only: ciphertext by attname."""

    number: int
    values: dict
    phone_index: str
    custom: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    consent: dict[str, bool] = field(default_factory=dict)
    email_index: str = ""
    name_digests: set[str] = field(default_factory=set)
    sealed: dict[str, str] = field(default_factory=dict)

    def __reduce__(self):
        # Rows cross from import workers by the thousand: a tuple of fields unpickles several times
        # faster than the generated __getstate__/__setstate__ of a slots dataclass.
        return CleanRow, (self.number, self.values, self.phone_index, self.custom, self.tags, self.consent,
                          self.email_index, self.name_digests, self.sealed)


@dataclass(slots=True)
class Issue:
    row: int
    result: str  # "failed" or "skipped"
    column: str
    reason: str

    def __reduce__(self):
        return Issue, (self.row, self.result, self.column, self.reason)

    def sentence(self) -> str:
        where = f" ({self.column})" if self.column else ""
        return f"Row {self.row}{where}: {self.reason}"


@dataclass(slots=True)
class _Draft:
    """What the converters of one row have found so far."""

    values: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    consent: dict[str, bool] = field(default_factory=dict)
    phone: tuple[str, str] | None = None  # (e164, time zone)


Converter = Callable[[str, _Draft], None]  # raises ValueError with a reason for the person


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(zoneinfo.available_timezones())
    return _ZONES


class RowNormaliser:
    """Cleans rows for one import: one organisation, region, header and mapping.

    `indexer` (the organisation's blind-index keys) is set by whoever runs it, chunk by chunk.
    """

    def __init__(self, *, region: str, headers: list[str], mapping: list[str], defs: dict[str, CustomField],
                 indexer: blind_index.Indexer | None = None):
        self.region = region
        # The same rules as create_contact/update_contact (contacts.normaliser): one set of them.
        self.rules = ContactNormaliser(region=region)
        self.defs = defs
        self.indexer = indexer
        self.today = datetime.date.today()
        self.columns: list[tuple[int, str, Converter]] = [
            (i, (headers[i] if i < len(headers) else f"column {i + 1}"), self._converter(t))
            for i, t in enumerate(mapping)
            if t != IGNORE and not (t.startswith("custom:") and t[7:] not in defs)
        ]
        # raw phone text → (e164, time zone), or the reason it is not a phone
        self._phones: dict[str, tuple[str, str] | str] = {}

    def phone(self, raw: str) -> tuple[str, str] | str:
        cached = self._phones.get(raw)
        if cached is None:
            try:
                # A leading apostrophe is how spreadsheets (and our export) keep "+1…" as text.
                e164 = blind_index.normalize_phone(raw.lstrip("'"), self.region)
            except blind_index.InvalidPhoneNumber:
                cached = _NOT_A_PHONE
            else:
                cached = (e164, timezone_for_phone(e164))
            if len(self._phones) >= 100_000:  # bounded: a 1M-row file must not grow memory without limit
                self._phones.clear()
            self._phones[raw] = cached
        return cached

    def __call__(self, number: int, cells: list[str]) -> CleanRow | list[Issue]:
        draft = _Draft()
        issues: list[Issue] = []
        ncells = len(cells)
        for i, header, convert in self.columns:
            if i >= ncells:
                continue
            raw = cells[i].strip()
            if not raw:
                continue
            try:
                convert(raw, draft)
            except ValueError as exc:
                issues.append(Issue(number, "failed", header, _sentence(exc)))
        if draft.phone is None and not issues:
            issues.append(Issue(number, "failed", "", _NO_PHONE))
        if issues:
            return issues
        e164, zone = draft.phone
        values = draft.values
        values["phone"] = e164
        if "timezone" not in values and zone:
            values["timezone"] = zone
        indexer = self.indexer
        row = CleanRow(number, values, indexer.phone(e164), draft.custom, draft.tags, draft.consent)
        if "email" in values:
            row.email_index = indexer.email(values["email"])
        row.name_digests = indexer.names(values.get("first_name"), values.get("last_name"))
        return row

    # --- one converter per mapped column ------------------------------------------------------
    def _converter(self, target: str) -> Converter:
        if target == "phone":
            return self._phone_cell
        if target == "email":
            return self._email
        if target in _LIMITS:
            return _limited(target)
        if target == "full_name":
            return _split_name
        if target == "date_of_birth":
            return self._birth_date
        if target == "preferred_channel":
            return _channel
        if target == "timezone":
            _zones()  # load the zone names now, not inside the first row
            return _timezone
        if target in ("sms_consent", "whatsapp_consent"):
            return _consent(target.split("_", 1)[0])
        if target == "tags":
            return _tags
        if target.startswith("custom:"):
            return _custom(self.defs[target[7:]], self.region)
        return _ignore  # mapping.validate refuses unknown targets before a run; never fail a row for one

    def _email(self, raw: str, draft: _Draft) -> None:
        draft.values["email"] = self.rules.field("email")(raw)

    def _phone_cell(self, raw: str, draft: _Draft) -> None:
        phone = self.phone(raw)
        if isinstance(phone, str):
            raise ValueError(phone)
        draft.phone = phone

    def _birth_date(self, raw: str, draft: _Draft) -> None:
        draft.values["date_of_birth"] = self.rules.field("date_of_birth")(raw)


def _ignore(raw: str, draft: _Draft) -> None:
    return None


def _limited(target: str) -> Converter:
    limit = _LIMITS[target]
    too_long = f"the {_NAMES[target]} is longer than {limit} characters — shorten it"
    def convert(raw: str, draft: _Draft) -> None:
        if len(raw) > limit:
            raise ValueError(too_long)
        draft.values[target] = raw

    return convert


def _split_name(raw: str, draft: _Draft) -> None:
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
        draft.values["first_name"] = first
    if last:
        draft.values["last_name"] = last


def _channel(raw: str, draft: _Draft) -> None:
    channel = _CHANNELS.get(raw.lower())
    if channel is None:
        raise ValueError("must be sms or whatsapp (or blank)")
    draft.values["preferred_channel"] = channel


def _timezone(raw: str, draft: _Draft) -> None:
    if raw not in _zones():  # the set is cached: the shared validator below would build it per cell
        raise ValueError("is not a time zone name such as America/New_York — fix it or clear it")
    draft.values["timezone"] = raw


def _consent(channel: str) -> Converter:
    def convert(raw: str, draft: _Draft) -> None:
        opted_in = parse_yes_no(raw)
        if opted_in is not None:
            draft.consent[channel] = opted_in

    return convert


def _tags(raw: str, draft: _Draft) -> None:
    draft.tags = [t.strip()[:50] for t in _TAG_SEPARATORS.split(raw) if t.strip()]


def _custom(definition: CustomField, region: str) -> Converter:
    key = definition.key
    clean = custom_fields.converter(definition, region)

    def convert(raw: str, draft: _Draft) -> None:
        draft.custom[key] = clean(raw)

    return convert


def _sentence(exc: Exception) -> str:
    text = str(exc)
    if text.startswith(("is ", "must ")):
        return f"the value {text}"
    return text
