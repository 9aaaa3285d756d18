"""Answer parsers: what a patient typed → a clean value, or ``InvalidAnswer`` with a reason.

The reason is shown to the patient in the questionnaire's language ("that date is in the
future"), so it never echoes what they typed. Dates read day-first or month-first from the
organisation's region; phones go through phonenumbers' ``is_valid_number`` with that region.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from campaigns.intake.texts import text

# Regions that write dates month first (3/14/1985); everywhere else reads 14/3/1985.
MONTH_FIRST_REGIONS = frozenset({"US", "PH", "FM", "MH", "PW", "BZ"})

_YES = {"yes", "y", "yeah", "yep", "ok", "true", "1", "si", "s", "claro", "sim", "oui"}
_NO = {"no", "n", "nope", "false", "0", "nah", "non", "nao"}

_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}


class InvalidAnswer(Exception):
    """An answer refused; ``reason`` is patient-facing text in the questionnaire's language."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid answer")  # never the reason's values in tracebacks
        self.reason = reason


@dataclass(frozen=True)
class Context:
    """What parsing depends on beyond the question: language, region, today."""

    language: str = "en"
    region: str = "US"
    today: datetime.date | None = None


def fold(value: str) -> str:
    """Lower-case, accents removed, spaces collapsed: how options and yes/no are compared."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def parse_answer(question: dict, raw: str, ctx: Context, reply_id: str = ""):
    """The clean value of ``raw`` for ``question`` (a version snapshot entry); raises InvalidAnswer."""
    raw = (raw or "").strip()
    kind = question["kind"]
    parser = _PARSERS[kind]
    if kind in ("single_choice", "multiple_choice", "yes_no"):
        return parser(question, raw, ctx, reply_id)
    if not raw:
        raise InvalidAnswer(text(ctx.language, "required"))
    return parser(question, raw, ctx)


def _text(question: dict, raw: str, ctx: Context) -> str:
    limit = int(question.get("max_length") or 500)
    if len(raw) > limit:
        raise InvalidAnswer(text(ctx.language, "too_long", length=len(raw), limit=limit))
    return raw


def _number(question: dict, raw: str, ctx: Context):
    cleaned = raw.replace(" ", "")
    if re.fullmatch(r"-?\d+,\d+", cleaned):  # 72,5 (decimal comma)
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidAnswer(text(ctx.language, "not_a_number")) from None
    if not value.is_finite():
        raise InvalidAnswer(text(ctx.language, "not_a_number"))
    low, high = question.get("min_value"), question.get("max_value")
    if low not in (None, "") and value < Decimal(str(low)):
        raise InvalidAnswer(text(ctx.language, "below_min", min=_plain(Decimal(str(low)))))
    if high not in (None, "") and value > Decimal(str(high)):
        raise InvalidAnswer(text(ctx.language, "above_max", max=_plain(Decimal(str(high)))))
    return int(value) if value == value.to_integral_value() else float(value)


def _plain(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value)


def _date(question: dict, raw: str, ctx: Context) -> str:
    month_first = ctx.region.upper() in MONTH_FIRST_REGIONS
    example = "3/14/1985" if month_first else "14/03/1985"
    parts = _date_parts(fold(raw), month_first)
    if parts is None:
        raise InvalidAnswer(text(ctx.language, "not_a_date", example=example))
    year, month, day = parts
    try:
        value = datetime.date(year, month, day)
    except ValueError:
        raise InvalidAnswer(text(ctx.language, "impossible_date")) from None
    today = ctx.today or datetime.date.today()
    if not question.get("allow_future") and value > today:
        raise InvalidAnswer(text(ctx.language, "future_date"))
    if value.year < 1900:
        raise InvalidAnswer(text(ctx.language, "impossible_date"))
    return value.isoformat()


def _date_parts(value: str, month_first: bool) -> tuple[int, int, int] | None:
    iso = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
    if iso:
        return int(iso[1]), int(iso[2]), int(iso[3])
    numeric = re.fullmatch(r"(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{2}|\d{4})", value)
    if numeric:
        a, b, year = int(numeric[1]), int(numeric[2]), _year(numeric[3])
        if a > 12 >= b:
            return year, b, a
        if b > 12 >= a:
            return year, a, b
        return (year, a, b) if month_first else (year, b, a)
    words = re.findall(r"[a-z]+|\d+", value)
    names = [w for w in words if not w.isdigit() and w not in ("de", "of", "the", "del")]
    numbers = [w for w in words if w.isdigit()]
    if len(names) != 1 or len(numbers) != 2:
        return None
    month = _month_named(names[0])
    if month is None:
        return None
    first, second = numbers
    if len(first) == 4:
        year, day = int(first), int(second)
    else:
        day, year = int(first), _year(second)
    return year, month, day


def _month_named(word: str) -> int | None:
    if word in _MONTHS:
        return _MONTHS[word]
    if len(word) >= 3:
        matches = {number for name, number in _MONTHS.items() if name.startswith(word)}
        if len(matches) == 1:
            return matches.pop()
    return None


def _year(digits: str) -> int:
    if len(digits) == 4:
        return int(digits)
    two = int(digits)
    pivot = datetime.date.today().year % 100
    return 2000 + two if two <= pivot else 1900 + two


def _yes_no(question: dict, raw: str, ctx: Context, reply_id: str = "") -> bool:
    if reply_id in ("yes", "no"):
        return reply_id == "yes"
    word = fold(raw).strip(".!")
    if word in _YES or word == fold(text(ctx.language, "yes")):
        return True
    if word in _NO or word == fold(text(ctx.language, "no")):
        return False
    if not word:
        raise InvalidAnswer(text(ctx.language, "required"))
    raise InvalidAnswer(text(ctx.language, "not_yes_no"))


def _option(options: list[str], token: str) -> str | None:
    if token.isdigit() and 1 <= int(token) <= len(options):
        return options[int(token) - 1]
    wanted = fold(token)
    return next((o for o in options if fold(o) == wanted), None)


def _reply_option(options: list[str], reply_id: str) -> str | None:
    match = re.fullmatch(r"opt(\d+)", reply_id or "")
    if match and int(match[1]) < len(options):
        return options[int(match[1])]
    return None


def _single_choice(question: dict, raw: str, ctx: Context, reply_id: str = "") -> str:
    options = list(question.get("choices") or [])
    chosen = _reply_option(options, reply_id) or _option(options, raw.strip().rstrip("."))
    if chosen is None:
        raise InvalidAnswer(text(ctx.language, "required" if not raw else "not_an_option"))
    return chosen


def _multiple_choice(question: dict, raw: str, ctx: Context, reply_id: str = "") -> list[str]:
    options = list(question.get("choices") or [])
    single = _reply_option(options, reply_id) or _option(options, raw)
    if single is not None:
        return [single]
    tokens = [t for t in re.split(r"\s*(?:,|;|\+|&|\band\b|\by\b|\s)\s*", raw) if t]
    if not tokens:
        raise InvalidAnswer(text(ctx.language, "required"))
    if not all(t.isdigit() for t in tokens):
        tokens = [t for t in re.split(r"\s*[,;]\s*", raw) if t]
    chosen: list[str] = []
    for token in tokens:
        option = _option(options, token)
        if option is None:
            raise InvalidAnswer(text(ctx.language, "not_an_option"))
        if option not in chosen:
            chosen.append(option)
    return [o for o in options if o in chosen]  # in the questionnaire's order


def _phone(question: dict, raw: str, ctx: Context) -> str:
    try:
        number = phonenumbers.parse(raw, ctx.region.upper() or "US")
    except phonenumbers.NumberParseException:
        raise InvalidAnswer(text(ctx.language, "not_a_phone")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAnswer(text(ctx.language, "not_a_phone"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(question: dict, raw: str, ctx: Context) -> str:
    value = raw.strip().strip("<>")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidAnswer(text(ctx.language, "not_an_email")) from None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


_PARSERS = {
    "text": _text,
    "number": _number,
    "date": _date,
    "yes_no": _yes_no,
    "single_choice": _single_choice,
    "multiple_choice": _multiple_choice,
    "phone": _phone,
    "email": _email,
}


def display(question: dict, value, language: str = "en") -> str:
    """An answer as staff read it (and exports write it)."""
    if value is None:
        return ""
    if question.get("kind") == "yes_no":
        return text(language, "yes" if value else "no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) and "photo_id" in value:
        return f"photo #{value['photo_id']}"
    return str(value)
