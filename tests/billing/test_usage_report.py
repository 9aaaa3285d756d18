"""manage.py usage_report --month: one CSV row per organisation, counted in its own time zone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from billing.services import record_inbound, record_outbound
from tests.billing.conftest import put_on_plan

pytestmark = pytest.mark.django_db


def test_it_reports_every_organisation_for_the_month(tenant_a, tenant_b):
    put_on_plan(tenant_a.org, "free")
    put_on_plan(tenant_b.org, "starter")
    tenant_b.org.timezone = "Asia/Tokyo"
    tenant_b.org.save(update_fields=["timezone"])
    nov = datetime(2026, 11, 20, 12, tzinfo=UTC)
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="staff", segments=150, on=nov)
    record_inbound(organization_id=tenant_a.org.pk, channel_kind="sms", messages=4, on=nov)
    # 30 November 16:00 UTC is already 1 December in Tokyo: December's, not November's.
    record_outbound(organization_id=tenant_b.org.pk, channel_kind="sms", origin="campaign", segments=7,
                    on=datetime(2026, 11, 30, 16, tzinfo=UTC))
    out = io.StringIO()
    call_command("usage_report", "--month", "2026-11", stdout=out)
    rows = {r["organization"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    a, b = rows["Org A Clinic"], rows["Org B Clinic"]
    assert (a["plan"], a["outbound_segments"], a["inbound_messages"], a["overage_segments"]) == (
        "free", "150", "4", "50")
    assert (b["plan"], b["outbound_segments"]) == ("starter", "0")


def test_a_malformed_month_says_how_to_write_it(db):
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("usage_report", "--month", "11/2026")
