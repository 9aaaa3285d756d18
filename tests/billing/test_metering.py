"""Metering: aggregate counters per org x day x kind x origin, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from billing.models import UsageCounter
from billing.services import record_inbound, record_outbound, record_outbound_many, segments_used
from messaging.segments import count_segments

pytestmark = pytest.mark.django_db


def rows(org):
    with scopes_disabled():
        return list(UsageCounter.objects.filter(organization=org)
                    .values_list("day", "channel_kind", "direction", "origin", "segments", "messages")
                    .order_by("day", "direction", "origin"))


def send(org, text: str, origin: str = "staff", kind: str = "sms", **kw):
    record_outbound(organization_id=org.pk, channel_kind=kind, origin=origin,
                    segments=count_segments(text).segments, **kw)


@time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False)
def test_it_counts_gsm7_and_ucs2_single_and_multipart_segments_into_one_row_per_key(tenant_a):
    org = tenant_a.org
    send(org, "Hello")              # GSM-7, 1
    send(org, "a" * 161)            # GSM-7, 2 (153 per part)
    send(org, "€" * 81)             # extension chars: 162 septets → 2
    send(org, "Zoë 😊")             # UCS-2, 1
    send(org, "😊" * 36)            # 72 UTF-16 units → UCS-2, 2 parts
    assert rows(org) == [(date(2026, 12, 10), "sms", "outbound", "staff", 8, 5)]


@time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False)
def test_it_keeps_origins_kinds_and_directions_apart(tenant_a):
    org = tenant_a.org
    send(org, "x", origin="campaign")
    send(org, "x", origin="otp")
    send(org, "x", origin="campaign", kind="whatsapp")
    record_inbound(organization_id=org.pk, channel_kind="sms")
    record_inbound(organization_id=org.pk, channel_kind="sms")
    day = date(2026, 12, 10)
    assert rows(org) == [(day, "sms", "inbound", "patient", 0, 2), (day, "sms", "outbound", "campaign", 1, 1),
                         (day, "whatsapp", "outbound", "campaign", 1, 1),
                         (day, "sms", "outbound", "otp", 1, 1)]
    assert segments_used(org.pk, day, date(2026, 12, 11)) == 3


def test_a_rolled_back_send_meters_nothing(tenant_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        send(tenant_a.org, "Hello")
        raise RuntimeError("the send failed after metering")
    assert rows(tenant_a.org) == []


def test_the_day_is_the_organisations_local_day_at_midnight(tenant_a):
    org = tenant_a.org
    org.timezone = "America/New_York"
    org.save(update_fields=["timezone"])
    # 04:59 UTC is 23:59 on the 9th in New York; 05:00 UTC is midnight of the 10th.
    record_outbound(organization_id=org.pk, channel_kind="sms", origin="staff", segments=1,
                    on=datetime(2026, 12, 10, 4, 59, 59, tzinfo=UTC))
    record_outbound(organization_id=org.pk, channel_kind="sms", origin="staff", segments=2,
                    on=datetime(2026, 12, 10, 5, 0, 0, tzinfo=UTC))
    assert [(r[0], r[4]) for r in rows(org)] == [(date(2026, 12, 9), 1), (date(2026, 12, 10), 2)]


def test_one_send_is_one_upsert_statement(tenant_a):
    with CaptureQueriesContext(connection) as queries:
        send(tenant_a.org, "Hello")
    assert len(queries) == 1
    assert "ON CONFLICT" in queries[0]["sql"]


@time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False)
def test_the_batch_form_sums_rows_and_writes_them_in_one_statement(tenant_a):
    org = tenant_a.org
    batch = [{"channel_kind": "sms", "origin": "campaign", "segments": count_segments(t).segments}
             for t in ["Hi", "a" * 200, "Zoë 😊"]] + [
        {"channel_kind": "whatsapp", "origin": "campaign", "segments": 1, "messages": 1}]
    with CaptureQueriesContext(connection) as queries:
        record_outbound_many(organization_id=org.pk, rows=batch)
    assert len(queries) == 1
    day = date(2026, 12, 10)
    assert rows(org) == [(day, "sms", "outbound", "campaign", 4, 3),
                         (day, "whatsapp", "outbound", "campaign", 1, 1)]
    record_outbound_many(organization_id=org.pk, rows=batch[:1])
    assert rows(org)[0][4:] == (5, 4)


def test_zero_rows_write_nothing(tenant_a):
    with CaptureQueriesContext(connection) as queries:
        record_outbound_many(organization_id=tenant_a.org.pk, rows=[])
        record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="staff", segments=0,
                        messages=0)
    assert len(queries) == 0


def test_counters_of_one_organisation_are_invisible_to_another(tenant_a, tenant_b):
    send(tenant_a.org, "Hello")
    assert rows(tenant_b.org) == []
    assert segments_used(tenant_b.org.pk, date(2000, 1, 1), date(2100, 1, 1)) == 0


def test_a_given_day_is_counted_on_that_day(tenant_a):
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="api", segments=2,
                    on=date(2026, 11, 30))
    record_inbound(organization_id=tenant_a.org.pk, channel_kind="whatsapp", on=date(2026, 11, 30))
    assert rows(tenant_a.org) == [(date(2026, 11, 30), "whatsapp", "inbound", "patient", 0, 1),
                                  (date(2026, 11, 30), "sms", "outbound", "api", 2, 1)]
