"""Billing test helpers: put an organisation on a plan, and build actors for personas."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.actor import Actor, actor_for
from billing.models import Plan, PlanSpan, Subscription
from billing.periods import local_day, month_start, next_month_start


def put_on_plan(org, code: str, *, status: str = Subscription.Status.ACTIVE, trial_ends_at=None,
                day=None) -> Subscription:
    """Give ``org`` a subscription on plan ``code`` from the start of the current month."""
    plan = Plan.objects.get(code=code)
    today = day or local_day(org.timezone)
    with scopes_disabled():  # test set-up
        Subscription.objects.filter(organization=org).delete()
        PlanSpan.objects.filter(organization=org).delete()
        sub = Subscription.objects.create(
            organization=org, plan=plan, status=status, trial_ends_at=trial_ends_at,
            period_start=month_start(today), period_end=next_month_start(today),
            continue_after_trial=status != Subscription.Status.TRIAL)
        PlanSpan.objects.create(organization=org, plan=plan, starts_on=month_start(today),
                                is_trial=status == Subscription.Status.TRIAL)
    return sub


def actor(tenant, role: str = "owner") -> Actor:
    return actor_for(tenant.member(role), tenant.org)


def system(org) -> Actor:
    return Actor.system("test", organization_id=org.pk)


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture(autouse=True)
def _default_plans(request):
    """Transactional tests flush every table, the seeded plans too: put them back."""
    if request.node.get_closest_marker("django_db") is not None:
        from billing.catalogue import ensure_default_plans

        ensure_default_plans(Plan)
