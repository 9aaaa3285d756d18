"""Plan changes, downgrade refusals, trial expiry, period close and statement totals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django_scopes import scope, scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from billing import PlanChangeRefused
from billing.models import Plan, PlanSpan, Statement, Subscription
from billing.services import change_plan, close_billing_periods, record_outbound, start_trial
from messaging.models import Channel
from tests.billing.conftest import actor, put_on_plan

pytestmark = pytest.mark.django_db


def sub_of(org) -> Subscription:
    with scopes_disabled():
        return Subscription.objects.select_related("plan").get(organization=org)


def spans_of(org):
    with scopes_disabled():
        return list(PlanSpan.objects.filter(organization=org)
                    .values_list("plan__code", "starts_on", "ends_on", "is_trial"))


@time_machine.travel(datetime(2026, 12, 10, 12, tzinfo=UTC), tick=False)
def test_start_trial_puts_a_new_organisation_on_a_trial_of_the_chosen_plan(tenant_a):
    sub = start_trial(organization=tenant_a.org, plan_code="starter")
    assert (sub.plan.code, sub.status) == ("starter", "trial")
    assert sub.trial_ends_at == datetime(2026, 12, 24, 12, tzinfo=UTC)
    assert (sub.period_start, sub.period_end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert start_trial(organization=tenant_a.org, plan_code="growth").pk == sub.pk  # idempotent


@time_machine.travel(datetime(2026, 12, 10, 12, tzinfo=UTC), tick=False)
def test_an_owner_changes_plan_from_today_and_it_is_audited(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    change_plan(actor=actor(tenant_a), plan_code="growth")
    assert sub_of(tenant_a.org).plan.code == "growth"
    assert spans_of(tenant_a.org) == [("starter", date(2026, 12, 1), date(2026, 12, 10), False),
                                      ("growth", date(2026, 12, 10), None, False)]
    with scopes_disabled():
        event = AuditEvent.objects.filter(action=AuditAction.PLAN_CHANGED).get()
    assert event.detail == {"from_plan": "starter", "to_plan": "growth", "status": "active"}


@pytest.mark.parametrize("role", ["admin", "staff", "viewer"])
def test_only_owners_change_plans(tenant_a, role):
    put_on_plan(tenant_a.org, "starter")
    with pytest.raises(PermissionDenied):
        change_plan(actor=actor(tenant_a, role), plan_code="growth")
    assert sub_of(tenant_a.org).plan.code == "starter"


def test_a_downgrade_the_organisation_does_not_fit_is_refused_with_the_numbers_and_nothing_changes(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "growth")
    with scope(organization=org):
        for i in range(3):
            Channel.objects.create(organization=org, name=f"C{i}", provider="simulator",
                                   address=f"+150055500{i}")
        Channel.objects.create(organization=org, name="WA", provider="simulator", kind="whatsapp",
                               address="+15005550099")
    before = spans_of(org)
    with pytest.raises(PlanChangeRefused) as refused:
        change_plan(actor=actor(tenant_a), plan_code="starter")
    reasons = " ".join(refused.value.reasons)
    assert "4 active channels and Starter allows 2: deactivate 2" in reasons
    assert "no WhatsApp and you have 1 active WhatsApp" in reasons
    assert sub_of(org).plan.code == "growth"
    assert spans_of(org) == before
    with scopes_disabled():
        assert not AuditEvent.objects.filter(action=AuditAction.PLAN_CHANGED).exists()


def test_an_organisation_exactly_at_the_new_caps_may_downgrade(tenant_a):
    org = tenant_a.org  # 4 members; Starter allows 5 users and 2 channels
    put_on_plan(org, "growth")
    with scope(organization=org):
        for i in range(2):
            Channel.objects.create(organization=org, name=f"C{i}", provider="simulator",
                                   address=f"+150055500{i}")
    change_plan(actor=actor(tenant_a), plan_code="starter")
    assert sub_of(org).plan.code == "starter"


def test_an_inactive_plan_and_a_contact_sales_plan_are_refused(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    Plan.objects.filter(code="growth").update(is_active=False)
    with pytest.raises(PlanChangeRefused, match="not offered"):
        change_plan(actor=actor(tenant_a), plan_code="growth")
    with pytest.raises(PlanChangeRefused, match="contact sales"):
        change_plan(actor=actor(tenant_a), plan_code="enterprise")


def test_a_plan_that_organisations_still_use_cannot_be_deleted(tenant_a):
    from django.db.models import ProtectedError

    put_on_plan(tenant_a.org, "starter")
    with pytest.raises(ProtectedError):
        Plan.objects.get(code="starter").delete()


def test_an_unconfirmed_trial_ends_on_free_and_a_confirmed_one_continues(tenant_a, tenant_b):
    with time_machine.travel(datetime(2026, 12, 3, 9, tzinfo=UTC), tick=False):
        start_trial(organization=tenant_a.org, plan_code="growth")
        start_trial(organization=tenant_b.org, plan_code="growth")
        change_plan(actor=actor(tenant_b), plan_code="starter")  # chosen during the trial
        assert sub_of(tenant_b.org).status == "trial"
    with time_machine.travel(datetime(2026, 12, 17, 8, tzinfo=UTC), tick=False):
        close_billing_periods()
        assert sub_of(tenant_a.org).status == "trial"  # 14 days not yet over
    with time_machine.travel(datetime(2026, 12, 17, 10, tzinfo=UTC), tick=False):
        result = close_billing_periods()
    assert result.trials_ended == 2
    a, b = sub_of(tenant_a.org), sub_of(tenant_b.org)
    assert (a.plan.code, a.status) == ("free", "active")
    assert (b.plan.code, b.status) == ("starter", "active")
    assert spans_of(tenant_b.org)[-1] == ("starter", date(2026, 12, 17), None, False)


def test_closing_a_period_splits_a_mid_period_plan_change_by_day_and_adds_overage(tenant_a):
    org = tenant_a.org
    with time_machine.travel(datetime(2026, 11, 1, 12, tzinfo=UTC), tick=False):
        put_on_plan(org, "starter")
    with time_machine.travel(datetime(2026, 11, 11, 12, tzinfo=UTC), tick=False):
        change_plan(actor=actor(tenant_a), plan_code="growth")
        record_outbound(organization_id=org.pk, channel_kind="sms", origin="campaign", segments=10_250)
    with time_machine.travel(datetime(2026, 12, 1, 0, 30, tzinfo=UTC), tick=False):
        result = close_billing_periods()
        again = close_billing_periods()
    assert (result.statements, again.statements) == (1, 0)  # idempotent
    with scopes_disabled():
        statement = Statement.objects.get(organization=org)
        lines = list(statement.lines.values_list("quantity", "unit", "amount"))
    # Starter $49.00 for 10 of 30 days = 1,633; Growth $199.00 for 20 of 30 = 13,267;
    # 250 segments beyond Growth's 10,000 at $8.00 per 1,000 = 200.
    assert lines == [(10, "days", 1633), (20, "days", 13267), (250, "segments", 200)]
    assert statement.total == 1633 + 13267 + 200
    assert (statement.period_start, statement.period_end) == (date(2026, 11, 1), date(2026, 12, 1))
    assert (statement.segments_used, statement.segments_included) == (10_250, 10_000)
    sub = sub_of(org)
    assert (sub.period_start, sub.period_end) == (date(2026, 12, 1), date(2027, 1, 1))


def test_the_period_ends_at_midnight_in_the_organisations_time_zone(tenant_a):
    org = tenant_a.org
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    with time_machine.travel(datetime(2026, 11, 15, 20, tzinfo=UTC), tick=False):
        put_on_plan(org, "starter")
    # 07:59 UTC on 1 December is still 30 November in Los Angeles.
    with time_machine.travel(datetime(2026, 12, 1, 7, 59, tzinfo=UTC), tick=False):
        assert close_billing_periods().statements == 0
    with time_machine.travel(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), tick=False):
        assert close_billing_periods().statements == 1


def test_trial_days_cost_nothing_on_the_statement(tenant_a):
    org = tenant_a.org
    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        start_trial(organization=org, plan_code="starter")
        change_plan(actor=actor(tenant_a), plan_code="starter")  # keep it after the trial
    with time_machine.travel(datetime(2026, 12, 1, 1, tzinfo=UTC), tick=False):
        close_billing_periods()
    with scopes_disabled():
        statement = Statement.objects.get(organization=org)
    assert statement.total == 0
    assert statement.status == "paid"  # nothing to collect


def test_an_unpaid_statement_past_its_due_date_makes_the_subscription_past_due_until_paid(tenant_a):
    org = tenant_a.org
    with time_machine.travel(datetime(2026, 11, 1, 12, tzinfo=UTC), tick=False):
        put_on_plan(org, "starter")
    with time_machine.travel(datetime(2026, 12, 1, 1, tzinfo=UTC), tick=False):
        close_billing_periods()
    with time_machine.travel(datetime(2026, 12, 31, 12, tzinfo=UTC), tick=False):
        assert close_billing_periods().past_due == 0  # due on 31 December: not late yet
    with time_machine.travel(datetime(2027, 1, 1, 12, tzinfo=UTC), tick=False):
        assert close_billing_periods().past_due == 1
        assert sub_of(org).status == "past_due"
        with scopes_disabled():
            number = Statement.objects.get(organization=org, period_start=date(2026, 11, 1)).number
        call_command("record_payment", number)
    assert sub_of(org).status == "active"


def test_the_ops_command_closes_periods_and_is_idempotent(tenant_a, capsys):
    with time_machine.travel(datetime(2026, 10, 5, 12, tzinfo=UTC), tick=False):
        put_on_plan(tenant_a.org, "starter")
    with time_machine.travel(datetime(2026, 12, 2, 12, tzinfo=UTC), tick=False):
        call_command("close_billing_period")
        call_command("close_billing_period")
    out = capsys.readouterr().out.splitlines()
    assert out == ["trials_ended=0 statements=2 past_due=0", "trials_ended=0 statements=0 past_due=0"]
    with scopes_disabled():
        assert list(Statement.objects.filter(organization=tenant_a.org).values_list("period_start", flat=True)
                    ) == [date(2026, 11, 1), date(2026, 10, 1)]


def test_choosing_a_plan_subscribes_a_cancelled_organisation_again(tenant_a):
    put_on_plan(tenant_a.org, "starter", status="cancelled")
    change_plan(actor=actor(tenant_a), plan_code="starter")
    assert sub_of(tenant_a.org).status == "active"


def test_owners_are_emailed_when_a_statement_is_ready(tenant_a, settings, django_capture_on_commit_callbacks):
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(datetime(2026, 11, 1, 12, tzinfo=UTC), tick=False):
        put_on_plan(tenant_a.org, "starter")
    with time_machine.travel(datetime(2026, 12, 1, 1, tzinfo=UTC), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        close_billing_periods()
    [message] = mail.outbox
    assert message.to == [tenant_a.owner.email]
    assert "$49.00" in message.body and "PDF or CSV" in message.body
