"""Metering: every outbound segment and inbound message, counted in the caller's transaction.

One row per organisation x day (its time zone) x channel kind x direction x origin, upserted
by a single statement: a rolled-back send meters nothing, a retried webhook (whose duplicate
insert rolls its transaction back) counts once, and the hot path pays one indexed upsert.
On PostgreSQL the organisation's local day is computed by that same statement (``AT TIME
ZONE`` the organisation's zone), so metering reads nothing first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import Organization
from billing.models import UsageCounter
from billing.periods import local_day
from billing.plan_cache import paid_sending

OUTBOUND = "outbound"
INBOUND = "inbound"
INBOUND_ORIGIN = "patient"

_TABLE = UsageCounter._meta.db_table
_ORG_TABLE = Organization._meta.db_table
_COLUMNS = "organization_id, day, channel_kind, direction, origin, segments, messages"
_CONFLICT = (" ON CONFLICT (organization_id, day, channel_kind, direction, origin) DO UPDATE SET "
             f"segments = {_TABLE}.segments + EXCLUDED.segments, "
             f"messages = {_TABLE}.messages + EXCLUDED.messages")

Row = tuple[str, str, str, int, int]  # channel kind, direction, origin, segments, messages


def record_outbound(*, organization_id: int, channel_kind: str, origin: str, segments: int,
                    messages: int = 1, on: date | datetime | None = None) -> None:
    """Count ``messages`` outbound messages of ``segments`` segments in total (messaging's segment
    counter decides GSM-7/UCS-2 and parts). Call inside the transaction that stores the messages."""
    _upsert(organization_id, [(channel_kind, OUTBOUND, origin, int(segments), int(messages))], on)
    _count_in_allowance(organization_id, int(segments))


def record_outbound_many(*, organization_id: int, rows: Iterable[Mapping[str, Any]],
                         on: date | datetime | None = None) -> None:
    """The batch form: ``rows`` of ``{"channel_kind", "origin", "segments", "messages"=1}``,
    summed per key and written by one statement."""
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        key = (row["channel_kind"], row["origin"])
        total = totals.setdefault(key, [0, 0])
        total[0] += int(row["segments"])
        total[1] += int(row.get("messages", 1))
    _upsert(organization_id, [(kind, OUTBOUND, origin, seg, msg)
                              for (kind, origin), (seg, msg) in sorted(totals.items())], on)
    _count_in_allowance(organization_id, sum(seg for seg, _ in totals.values()))


def _count_in_allowance(organization_id: int, segments: int) -> None:
    """This process's cached allowance of an overage plan (quotas.PaidSending) counts the segments
    at once; other processes see them when they next read the period's usage."""
    paid = paid_sending.peek(organization_id)
    if paid is not None and segments:
        paid.metered(segments)


def record_inbound(*, organization_id: int, channel_kind: str, messages: int = 1,
                   on: date | datetime | None = None) -> None:
    """Count ``messages`` inbound messages (inbound costs no segments of the allowance)."""
    _upsert(organization_id, [(channel_kind, INBOUND, INBOUND_ORIGIN, 0, int(messages))], on)


@lru_cache(maxsize=64)
def _sql_local_day(rows: int) -> str:
    """The upsert of ``rows`` rows whose day PostgreSQL computes in the organisation's zone."""
    values = ", ".join(["(%s, %s, %s, %s::bigint, %s::bigint)"] * rows)
    return (f"INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608 (table names, no input)
            "SELECT o.id, (%s::timestamptz AT TIME ZONE o.timezone)::date, "
            "v.kind, v.direction, v.origin, v.segments, v.messages "
            f"FROM {_ORG_TABLE} o, (VALUES {values}) "
            "AS v(kind, direction, origin, segments, messages) "
            f"WHERE o.id = %s{_CONFLICT}")


@lru_cache(maxsize=64)
def _sql_known_day(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * rows)
    return f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {values}{_CONFLICT}"  # noqa: S608


def _upsert(organization_id: int, rows: list[Row], on: date | datetime | None) -> None:
    rows = [r for r in rows if r[3] or r[4]]
    if not rows:
        return
    when = on if on is not None else timezone.now()
    params: list[Any]
    if isinstance(when, datetime) and connection.vendor == "postgresql":
        # The day in the organisation's zone, computed by the insert itself (no read first).
        sql = _sql_local_day(len(rows))
        params = [when]
        for row in rows:
            params.extend(row)
        params.append(organization_id)
    else:
        day = when if not isinstance(when, datetime) else local_day(
            Organization.objects.values_list("timezone", flat=True).get(pk=organization_id), when)
        sql = _sql_known_day(len(rows))
        params = []
        for row in rows:
            params.extend([organization_id, day, *row])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
