"""An owner opens Billing, sees this period's usage chart, and changes plan; a refused downgrade
names the numbers. Every step is photographed (page.shot); no CSP violations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from django_scopes import scopes_disabled

from billing.catalogue import ensure_default_plans
from billing.models import Plan, Subscription
from billing.services import record_outbound, start_trial
from messaging.models import Channel
from tests.conftest import otp_verify

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_verified(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    otp_verify(client, user)  # owners must use two-factor authentication
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_owner_opens_usage_sees_the_chart_and_changes_plan(page, live_server, tenant_a):
    ensure_default_plans(Plan)  # a transactional test starts from flushed tables
    org = tenant_a.org
    start_trial(organization=org, plan_code="starter")
    now = timezone.now()
    record_outbound(organization_id=org.pk, channel_kind="sms", origin="campaign", segments=600, on=now)
    record_outbound(organization_id=org.pk, channel_kind="sms", origin="staff", segments=250, on=now)
    with scopes_disabled():  # test set-up: two more channels than Free allows
        for i in range(2):
            Channel.objects.create(organization=org, name=f"Desk {i}", provider="simulator",
                                   address=f"+1500555000{i}")
    sign_in_verified(page, live_server, tenant_a.owner)

    page.goto("/")
    page.click("[data-testid=nav-billing]")
    page.wait_for_selector("[data-testid=usage-chart]")
    page.shot("usage")
    assert page.text_content("[data-testid=current-plan]") == "Starter"
    assert page.locator("[data-testid=usage-chart] rect[data-origin=campaign]").count() == 1
    assert page.locator("[data-testid=usage-chart] rect[data-origin=staff]").count() == 1
    assert "850" in page.text_content("[data-testid=segments-used]")
    assert page.is_visible("[data-testid=usage-warning]")  # 85 % of Starter's 1,000
    assert page.is_visible("[data-testid=trial-banner]")

    page.select_option("#id_plan", "free")
    page.click("[data-testid=plan-submit]")
    page.wait_for_selector(".alert-danger")
    page.shot("downgrade-refused")
    assert "2 active channels and Free allows 1: deactivate 1 first" in page.text_content(".alert-danger")
    assert page.text_content("[data-testid=current-plan]") == "Starter"

    page.select_option("#id_plan", "growth")
    page.click("[data-testid=plan-submit]")
    page.wait_for_selector("text=your trial continues on it")
    page.shot("changed")
    assert page.text_content("[data-testid=current-plan]") == "Growth"
    assert "of 10,000" in page.text_content("[data-testid=segments-used]")
    with scopes_disabled():
        subscription = Subscription.objects.get(organization=org)
    assert (subscription.plan.code, subscription.continue_after_trial) == ("growth", True)
    assert subscription.trial_ends_at > now + timedelta(days=13)
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
