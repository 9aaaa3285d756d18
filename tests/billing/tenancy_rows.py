from datetime import date
from itertools import count

from django.utils import timezone

from tests.tenancy import row_maker


def _plan():
    from billing.catalogue import ensure_default_plans
    from billing.models import Plan

    ensure_default_plans(Plan)
    return Plan.objects.get(code="starter")


@row_maker("billing.subscription")
def subscription(org):
    from billing.models import Subscription

    return Subscription.objects.create(organization=org, plan=_plan(), status="active",
                                       period_start=date(2026, 12, 1), period_end=date(2027, 1, 1))


@row_maker("billing.planspan")
def plan_span(org):
    from billing.models import PlanSpan

    return PlanSpan.objects.create(organization=org, plan=_plan(), starts_on=date(2026, 12, 1))


@row_maker("billing.usagecounter")
def usage_counter(org):
    from billing.models import UsageCounter

    return UsageCounter.objects.create(organization=org, day=date(2026, 12, 1), channel_kind="sms",
                                       direction="outbound", origin="staff", segments=3, messages=1)


@row_maker("billing.usagenotice")
def usage_notice(org):
    from billing.models import UsageNotice

    return UsageNotice.objects.create(organization=org, period_start=date(2026, 12, 1), threshold=80)


_numbers = count(1)


@row_maker("billing.statement")
def statement(org):
    from billing.models import Statement

    n = next(_numbers)
    return Statement.objects.create(organization=org, number=f"CR-TEST-{org.pk:06d}-{n}",
                                    period_start=date(2000 + n % 90, 11, 1),
                                    period_end=date(2000 + n % 90, 12, 1),
                                    currency="USD", total=4900, gateway="manual", issued_at=timezone.now(),
                                    due_on=date(2026, 12, 31))


@row_maker("billing.statementline")
def statement_line(org):
    from billing.models import StatementLine

    return StatementLine.objects.create(organization=org, statement=statement(org), position=1,
                                        description="Starter plan", quantity=30, unit="days", amount=4900)
