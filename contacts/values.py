"""Reading typed values out of what people type or spreadsheets hold (dates, numbers, yes/no).

Shared by the forms, the services and the importer. Errors are ValueError with a message for
the person — never the offending value (it may be PHI).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from decimal import Decimal, InvalidOperation

import phonenumbers
from phonenumbers import timezone as phone_timezone

# Regions that write dates month-first (03/04/2024 = March 4th).
_MONTH_FIRST_REGIONS = {"US", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "PR", "VI", "UM", "CA"}
_TRUE = {"yes", "y", "true", "1", "opted in", "opt-in", "optin", "in", "x", "oui", "si", "sí", "ja"}
_FALSE = {"no", "n", "false", "0", "opted out", "opt-out", "optout", "out", "stop", "non"}
_DATE_SEPARATED = re.compile(r"^(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})$")


def parse_date(raw: object, region: str = "US") -> datetime.date:
    """A date from ISO text, a spreadsheet date, or d/m/y (m/d/y in month-first regions)."""
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    text = str(raw).strip()
    if "T" in text or " " in text:  # "1980-02-01 00:00:00" from spreadsheets
        text = text.replace("T", " ").split(" ", 1)[0]
    match = _DATE_SEPARATED.match(text)
    if not match:
        raise ValueError("is not a date — write it as YYYY-MM-DD, e.g. 1980-02-29")
    a, b, c = match.groups()
    try:
        if len(a) == 4:
            return datetime.date(int(a), int(b), int(c))
        year = int(c) if len(c) == 4 else None
        if year is None:
            raise ValueError
        month, day = (int(a), int(b)) if region.upper() in _MONTH_FIRST_REGIONS else (int(b), int(a))
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError("is not a valid date — write it as YYYY-MM-DD") from None


def parse_number(raw: object) -> int | float:
    """A number from text such as "12", "3.5" or "1,234" (spreadsheet numbers pass through)."""
    if isinstance(raw, bool):
        raise ValueError("is not a number")
    if isinstance(raw, int | float):
        return raw
    text = str(raw).strip().replace(" ", "")
    if text.count(",") and not text.count("."):
        # "1,5" (decimal comma) vs "1,234" (thousands): a 3-digit tail means thousands.
        head, _, tail = text.rpartition(",")
        text = head.replace(",", "") + ("" if len(tail) == 3 else ".") + tail
    else:
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not a number — use digits, e.g. 42 or 3.5") from None
    if not number.is_finite():
        raise ValueError("is not a number — use digits, e.g. 42 or 3.5")
    return int(number) if number == number.to_integral_value() else float(number)


def parse_yes_no(raw: object) -> bool | None:
    """Consent columns: yes/no, true/false, 1/0, opted in/out; blank means "not stated"."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be yes or no (or blank if unknown)")


_ZONE_BY_PREFIX: dict[str, str] = {}


def timezone_for_phone(e164: str) -> str:
    """The IANA time zone of a phone number when its prefix names exactly one area, else ""."""
    # Zones are assigned by prefix (country + area/exchange), never by the last four digits, so
    # the answer is cached per prefix: an import of 100k local patients parses a few thousand.
    prefix = e164[:-4]
    zone = _ZONE_BY_PREFIX.get(prefix)
    if zone is None:
        zone = _timezone_of(e164)
        if len(_ZONE_BY_PREFIX) > 100_000:
            _ZONE_BY_PREFIX.clear()
        _ZONE_BY_PREFIX[prefix] = zone
    return zone


def _timezone_of(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    if len(zones) == 1:
        return zones[0]
    # Several zones that keep the same clock all year (UK mobiles: London, Jersey, Guernsey, Man)
    # are as good as one for sending hours; zones that differ (US-wide numbers) stay unknown.
    if zones and len({_offsets(z) for z in zones}) == 1:
        return zones[0]
    return ""


def _offsets(zone: str) -> tuple:
    tz = zoneinfo.ZoneInfo(zone)
    year = datetime.date.today().year
    return tuple(datetime.datetime(year, m, 15, 12, tzinfo=tz).utcoffset() for m in (1, 7))
