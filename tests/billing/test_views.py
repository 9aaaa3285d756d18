"""Pricing page (public), usage page (owners and admins), plan change and statements (owners)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from billing.models import Plan, Statement
from billing.services import close_billing_periods, record_outbound
from messaging.models import Channel
from tests.billing.conftest import put_on_plan

pytestmark = pytest.mark.django_db


def test_the_pricing_page_shows_every_active_plan_to_anyone(db):
    Plan.objects.filter(code="enterprise").update(is_active=False)
    response = Client().get(reverse("billing:pricing"))
    assert response.status_code == 200
    page = response.content.decode()
    for plan in Plan.objects.filter(is_active=True):
        assert f'data-testid="plan-{plan.code}"' in page
        assert plan.name in page
    assert 'data-testid="plan-enterprise"' not in page
    assert "$49.00" in page and "$199.00" in page  # monthly prices
    assert "$9.00 per 1,000 segments" in page  # Starter overage
    assert "No overage" in page  # Free
    assert 'data-testid="plan-compare"' in page
    assert "style=" not in page and "<script>" not in page  # strict CSP


def test_the_pricing_page_offers_contact_us_for_contact_sales_plans(db):
    page = Client().get(reverse("billing:pricing")).content.decode()
    assert 'data-testid="cta-enterprise"' in page and "Contact us" in page
    assert "mailto:sales@carerelay.example" in page
    assert "Start free" in page
    assert "14-day free trial of Growth" in page


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_see_no_billing_at_all(tenant_a, role):
    put_on_plan(tenant_a.org, "starter")
    client = tenant_a.client_for(role)
    assert client.get(reverse("billing:usage")).status_code == 403
    assert client.get(reverse("billing:usage_export")).status_code == 403
    assert client.post(reverse("billing:plan_change"), {"plan": "growth"}).status_code == 403
    assert 'data-testid="nav-billing"' not in client.get(reverse("dashboard")).content.decode()


@time_machine.travel(datetime(2026, 12, 10, 15, tzinfo=UTC), tick=False)
def test_admins_see_usage_against_the_plan_but_none_of_the_money(tenant_a):
    put_on_plan(tenant_a.org, "growth")
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="campaign", segments=9000)
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="staff", segments=200)
    response = tenant_a.client_for("admin").get(reverse("billing:usage"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="usage-chart"' in page
    assert 'data-origin="campaign"' in page and 'data-origin="staff"' in page
    assert "9,200" in page and "of 10,000" in page
    assert 'data-testid="usage-warning"' in page  # 92 %
    assert "$" not in page
    assert 'data-testid="plan-form"' not in page and 'data-testid="statements"' not in page
    assert 'data-testid="nav-billing"' in page


@time_machine.travel(datetime(2026, 12, 10, 15, tzinfo=UTC), tick=False)
def test_the_usage_page_projects_the_month_end_and_shows_caps(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    # 100 segments in the first 10 days of a 31-day period → 310 by month end.
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="campaign", segments=100)
    page = tenant_a.client_for("owner").get(reverse("billing:usage")).content.decode()
    assert 'data-testid="projected">310 ' in page
    assert "Members and pending invitations" in page and "4 / 5" in page
    assert "$49.00" in page  # owners see the money


def test_an_owner_changes_plan_from_the_page(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    client = tenant_a.client_for("owner")
    response = client.post(reverse("billing:plan_change"), {"plan": "growth"}, follow=True)
    assert "now on Growth" in response.content.decode()
    assert 'data-testid="current-plan">Growth<' in response.content.decode()


def test_a_refused_downgrade_shows_the_numbers_and_what_to_do(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "growth")
    with scopes_disabled():
        for i in range(3):
            Channel.objects.create(organization=org, name=f"C{i}", provider="simulator",
                                   address=f"+150055500{i}")
    response = tenant_a.client_for("owner").post(reverse("billing:plan_change"), {"plan": "free"},
                                                 follow=True)
    page = response.content.decode()
    assert "does not fit Free" in page
    assert "3 active channels and Free allows 1: deactivate 2 first" in page
    assert 'data-testid="current-plan">Growth<' in page


def _statement(tenant):
    with time_machine.travel(datetime(2026, 11, 3, 12, tzinfo=UTC), tick=False):
        put_on_plan(tenant.org, "starter")
        record_outbound(organization_id=tenant.org.pk, channel_kind="sms", origin="campaign", segments=1500)
    with time_machine.travel(datetime(2026, 12, 1, 1, tzinfo=UTC), tick=False):
        close_billing_periods()
    with scopes_disabled():
        return Statement.objects.get(organization=tenant.org)


def test_owners_download_statements_as_pdf_and_csv_audited(tenant_a):
    statement = _statement(tenant_a)
    client = tenant_a.client_for("owner")
    page = client.get(reverse("billing:usage")).content.decode()
    assert statement.number in page
    pdf = client.get(reverse("billing:statement_download", args=[statement.pk, "pdf"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    csv_response = client.get(reverse("billing:statement_download", args=[statement.pk, "csv"]))
    rows = csv_response.content.decode().splitlines()
    assert rows[0].startswith("statement,organisation")
    # Starter $49.00 for the whole month + 500 overage segments at $9.00 per 1,000 = $4.50.
    assert rows[-1].endswith(",5350,USD,$53.50")
    assert statement.total == 5350
    with scopes_disabled():
        formats = sorted(AuditEvent.objects.filter(action=AuditAction.STATEMENT_DOWNLOADED)
                         .values_list("detail__format", flat=True))
    assert formats == ["csv", "pdf"]
    assert client.get(reverse("billing:statement_download", args=[statement.pk, "txt"])).status_code == 404


def test_admins_cannot_download_statements_and_other_organisations_get_404(tenant_a, tenant_b):
    statement = _statement(tenant_a)
    url = reverse("billing:statement_download", args=[statement.pk, "pdf"])
    assert tenant_a.client_for("admin").get(url).status_code == 403
    put_on_plan(tenant_b.org, "starter")
    assert tenant_b.client_for("owner").get(url).status_code == 404


@time_machine.travel(datetime(2026, 12, 10, 15, tzinfo=UTC), tick=False)
def test_the_usage_csv_lists_this_periods_daily_rows(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="campaign", segments=3,
                    messages=2)
    response = tenant_a.client_for("admin").get(reverse("billing:usage_export"))
    assert response.status_code == 200
    assert response.content.decode().splitlines() == [
        "day,channel_kind,direction,origin,messages,segments", "2026-12-10,sms,outbound,campaign,2,3"]


def test_plans_are_in_the_admin_for_superusers_only(tenant_a):
    from tests.conftest import otp_verify

    put_on_plan(tenant_a.org, "starter")
    url = reverse("admin:billing_plan_changelist")
    admin_client = tenant_a.client_for("admin")
    assert admin_client.get(url).status_code == 403
    tenant_a.owner.is_superuser = True
    tenant_a.owner.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(tenant_a.owner)
    otp_verify(client, tenant_a.owner)
    assert client.get(url).status_code == 200
    starter = Plan.objects.get(code="starter")
    delete = client.get(reverse("admin:billing_plan_delete", args=[starter.pk]))
    assert delete.status_code == 403  # in use: make it inactive instead
    unused = Plan.objects.get(code="enterprise")
    assert client.get(reverse("admin:billing_plan_delete", args=[unused.pk])).status_code == 200


@pytest.mark.parametrize(("role", "shown"), [("owner", True), ("admin", True), ("staff", False),
                                             ("viewer", False)])
def test_owners_and_admins_see_the_usage_banner_on_every_page_once_80_percent_is_used(tenant_a, role, shown):
    from billing.services import check_segments

    put_on_plan(tenant_a.org, "free")
    client = tenant_a.client_for(role)
    assert 'data-testid="billing-banner"' not in client.get(reverse("dashboard")).content.decode()
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="staff", segments=79)
    check_segments(organization_id=tenant_a.org.pk, segments=1)  # reaches 80 %
    page = client.get(reverse("dashboard")).content.decode()
    assert ('data-testid="billing-banner"' in page) is shown
    if shown:
        assert "used 80 %" in page and "Sending stops" in page


@time_machine.travel(datetime(2026, 12, 2, 15, tzinfo=UTC), tick=False)
def test_the_projection_waits_for_the_third_day_of_the_period(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="campaign", segments=100)
    page = tenant_a.client_for("owner").get(reverse("billing:usage")).content.decode()
    assert 'data-testid="projected">Too early to tell' in page
