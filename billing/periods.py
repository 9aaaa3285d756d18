"""Calendar arithmetic and money formatting shared by billing's services, views and files.

Billing periods are calendar months in the organisation's time zone, so a period boundary
is midnight there, not in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.utils import timezone


class Feature(StrEnum):
    """Plan features a service may ask about (``check_feature``)."""

    WHATSAPP = "whatsapp"
    API = "api"
    INTAKE = "intake"
    REMINDERS = "reminders"


def local_day(tz_name: str, when: datetime | None = None) -> date:
    """The calendar day ``when`` (default: now) falls on in the time zone ``tz_name``."""
    return (when or timezone.now()).astimezone(ZoneInfo(tz_name or "UTC")).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def days_between(start: date, end: date) -> int:
    return max((end - start).days, 0)


_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}


def format_money(minor: int, currency: str) -> str:
    """``12345, "USD"`` → ``$123.45`` (integer arithmetic: no float ever touches money)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), 100)
    symbol = _SYMBOLS.get(currency)
    amount = f"{whole:,}.{cents:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def overage_cost(segments: int, price_per_1000: int | None) -> int:
    """Minor units for ``segments`` overage segments, rounded half up to the minor unit."""
    if not segments or not price_per_1000:
        return 0
    return (segments * price_per_1000 + 500) // 1000


def prorated(monthly_price: int, days: int, days_in_period: int) -> int:
    """A monthly price for ``days`` of a ``days_in_period``-day period, rounded half up."""
    if days_in_period <= 0:
        return 0
    return (monthly_price * days * 2 + days_in_period) // (2 * days_in_period)
