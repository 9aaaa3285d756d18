"""Closing billing periods: statements priced by day per plan, then the subscription rolls over.

``close_billing_periods`` is what the ops command and Celery beat run. It is idempotent: a
period is closed at most once (one statement per organisation and period start, under the
subscription's row lock), and running it again finds nothing left to close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled

import audit
from accounts.actor import Actor
from audit import AuditAction
from billing.gateway import gateway
from billing.models import PlanSpan, Statement, StatementLine, Subscription
from billing.periods import days_between, local_day, next_month_start, overage_cost, prorated
from billing.services.quotas import segments_used
from billing.services.subscriptions import end_trial

JOB = "ops:close_billing_period"


@dataclass
class CloseResult:
    trials_ended: int = 0
    statements: int = 0
    past_due: int = 0


@dataclass(frozen=True)
class DraftLine:
    description: str
    quantity: int
    unit: str
    amount: int


def close_billing_periods(*, now: datetime | None = None) -> CloseResult:
    """End every trial that has run out, close every period that has ended (each organisation
    in its own time zone and transaction), and mark overdue statements' subscriptions past due."""
    now = now or timezone.now()
    result = CloseResult()
    with scopes_disabled():  # ops: walks every organisation's subscription (ids only)
        ids = list(Subscription.objects.values_list("pk", flat=True))
    for subscription_id in ids:
        _close_one(subscription_id, now, result)
    return result


def _close_one(subscription_id: int, now: datetime, result: CloseResult) -> None:
    with scopes_disabled():  # ops: find the organisation this subscription belongs to
        organization_id = (Subscription.objects.values_list("organization_id", flat=True)
                           .get(pk=subscription_id))
    actor = Actor.system("ops:close_billing_period", organization_id=organization_id)
    with scope(organization=organization_id), transaction.atomic():
        subscription = (Subscription.objects.select_for_update(of=("self",))
                        .select_related("plan", "organization").get(pk=subscription_id))
        today = local_day(subscription.organization.timezone, now)
        while True:
            trial_over = (subscription.status == Subscription.Status.TRIAL and subscription.trial_ends_at
                          and subscription.trial_ends_at <= now)
            trial_day = (local_day(subscription.organization.timezone, subscription.trial_ends_at)
                         if trial_over else None)
            # Events in the order they happened: a trial that ended inside the period first.
            if trial_over and trial_day < subscription.period_end:
                end_trial(subscription, now=now, actor=actor)
                result.trials_ended += 1
                continue
            if subscription.period_end > today:
                break
            issue_statement(subscription, actor=actor, now=now)
            result.statements += 1
            subscription.period_start = subscription.period_end
            subscription.period_end = next_month_start(subscription.period_start)
            subscription.save(update_fields=["period_start", "period_end", "updated_at"])
        if _mark_past_due(subscription, today, actor):
            result.past_due += 1


def _mark_past_due(subscription: Subscription, today: date, actor) -> bool:
    if subscription.status != Subscription.Status.ACTIVE:
        return False
    overdue = Statement.objects.filter(organization_id=subscription.organization_id,
                                       status=Statement.Status.OPEN, due_on__lt=today).exists()
    if not overdue:
        return False
    subscription.status = Subscription.Status.PAST_DUE
    subscription.save(update_fields=["status", "updated_at"])
    audit.record(AuditAction.SUBSCRIPTION_STATUS_CHANGED, organization=subscription.organization,
                 actor=actor, target=subscription, detail={"from": "active", "to": "past_due"})
    return True


def draft_lines(subscription: Subscription, start: date, end: date) -> tuple[list[DraftLine], int, int]:
    """The priced lines of the period [start, end), its segments used and included.

    Each plan the organisation held is charged for the days it held it (trial days are free).
    Overage is the period's segments beyond the included segments of the plan held at the
    period's end, at that plan's price: the allowance the quota checks applied while sending.
    """
    days_in_period = days_between(start, end)
    lines: list[DraftLine] = []
    spans = (PlanSpan.objects.filter(organization_id=subscription.organization_id, starts_on__lt=end)
             .select_related("plan").order_by("starts_on", "pk"))
    closing_plan = subscription.plan
    for span in spans:
        span_end = min(span.ends_on or end, end)
        span_start = max(span.starts_on, start)
        days = days_between(span_start, span_end)
        if days <= 0:
            continue
        closing_plan = span.plan
        last_day = span_end - timedelta(days=1)
        label = (f"{span.plan.name} plan, {span_start:%d %b} to {last_day:%d %b %Y} "
                 f"({days} of {days_in_period} days)")
        if span.is_trial:
            lines.append(DraftLine(f"{label}, free trial", days, "days", 0))
        else:
            amount = prorated(span.plan.monthly_price, days, days_in_period)
            lines.append(DraftLine(label, days, "days", amount))
    used = segments_used(subscription.organization_id, start, end)
    included = closing_plan.included_segments
    over = max(used - included, 0)
    if over:
        lines.append(DraftLine(
            f"Overage: {over:,} segments beyond the {included:,} included in {closing_plan.name}",
            over, "segments", overage_cost(over, closing_plan.overage_price_per_1000)))
    return lines, used, included


def issue_statement(subscription: Subscription, *, actor, now: datetime) -> Statement:
    """Write the statement of the subscription's current period (once) and hand it to the gateway."""
    start, end = subscription.period_start, subscription.period_end
    existing = Statement.objects.filter(organization_id=subscription.organization_id,
                                        period_start=start).first()
    if existing is not None:
        return existing
    lines, used, included = draft_lines(subscription, start, end)
    collector = gateway()
    due_on = local_day(subscription.organization.timezone, now) + timedelta(
        days=settings.BILLING_PAYMENT_TERMS_DAYS)
    statement = Statement.objects.create(
        organization_id=subscription.organization_id,
        number=f"CR-{start:%Y%m}-{subscription.organization_id:06d}", period_start=start, period_end=end,
        currency=subscription.plan.currency, total=sum(line.amount for line in lines),
        segments_used=used, segments_included=included, gateway=collector.name, issued_at=now,
        due_on=due_on)
    StatementLine.objects.bulk_create([
        StatementLine(organization_id=subscription.organization_id, statement=statement, position=i,
                      description=line.description, quantity=line.quantity, unit=line.unit,
                      amount=line.amount)
        for i, line in enumerate(lines, start=1)])
    audit.record(AuditAction.STATEMENT_ISSUED, organization=subscription.organization, actor=actor,
                 target=statement, detail={"total": statement.total, "lines": len(lines),
                                           "segments_used": used, "gateway": collector.name})
    collector.collect(statement)
    return statement
