"""Reads for the usage dashboard, the statements and the ops report (no PHI: counts and money).

Each takes the ``actor`` and checks its permission: admins see usage (``billing.view``),
owners also the money (``billing.manage``); staff and viewers nothing.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Sum
from django.http import Http404
from django_scopes import scope

import audit
from accounts.roles import Perm
from audit import AuditAction
from billing import usage_counts
from billing.models import Plan, Statement, StatementLine, Subscription, UsageCounter
from billing.periods import days_between, local_day, overage_cost
from billing.services.metering import INBOUND, OUTBOUND
from billing.services.quotas import segments_used
from billing.services.subscriptions import member_and_invitation_count, subscription_for

# Chart order and labels of the outbound origins (messaging's Message.Origin values).
ORIGINS = [
    ("campaign", "Campaigns"), ("staff", "Staff replies"), ("auto_reply", "Automatic replies"),
    ("otp", "Sign-in codes"), ("intake", "Intake bot"), ("api", "API"), ("test", "Tests"),
]
_ORIGIN_LABELS = dict(ORIGINS)


@dataclass
class Cap:
    label: str
    used: int
    cap: int | None

    @property
    def percent(self) -> int | None:
        return None if not self.cap else min(self.used * 100 // self.cap, 100)

    @property
    def at_cap(self) -> bool:
        return self.cap is not None and self.used >= self.cap


@dataclass
class DayUsage:
    day: date
    by_origin: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_origin.values())


@dataclass
class UsageSummary:
    subscription: Subscription
    plan: Plan
    period_start: date
    period_end: date  # exclusive
    today: date
    used: int
    included: int
    inbound_messages: int
    outbound_messages: int
    days: list[DayUsage]
    by_origin: list[tuple[str, str, int]]  # (origin, label, segments)
    projected: int
    caps: list[Cap]
    show_money: bool

    @property
    def percent(self) -> int:
        return self.used * 100 // self.included if self.included else 0

    @property
    def remaining(self) -> int:
        return max(self.included - self.used, 0)

    @property
    def last_day(self) -> date:
        return self.period_end - timedelta(days=1)

    @property
    def projection_ready(self) -> bool:
        """Two days are too few to extrapolate a month from (a single campaign would dominate)."""
        return days_between(self.period_start, self.today) + 1 >= 3

    @property
    def projected_overage(self) -> int:
        return max(self.projected - self.included, 0)

    @property
    def projected_overage_cost(self) -> int:
        return overage_cost(self.projected_overage, self.plan.overage_price_per_1000)

    @property
    def warning(self) -> int | None:
        """The highest warning threshold reached (100 or 80), for the banner."""
        return 100 if self.percent >= 100 else 80 if self.percent >= 80 else None


def usage_summary(*, actor) -> UsageSummary:
    """This period's usage of the actor's organisation against its plan and caps."""
    actor.require(Perm.BILLING_VIEW)
    org_id = actor.organization_id
    subscription = subscription_for(org_id)
    start, end = subscription.period_start, subscription.period_end
    today = local_day(subscription.organization.timezone)
    with scope(organization=org_id):
        rows = list(UsageCounter.objects.filter(organization_id=org_id, day__gte=start, day__lt=end)
                    .values("day", "direction", "origin").annotate(seg=Sum("segments"), msg=Sum("messages")))
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_origin: dict[str, int] = defaultdict(int)
    inbound = outbound = used = 0
    for row in rows:
        if row["direction"] == INBOUND:
            inbound += row["msg"]
            continue
        outbound += row["msg"]
        used += row["seg"]
        per_day[row["day"]][row["origin"]] += row["seg"]
        per_origin[row["origin"]] += row["seg"]
    days = [DayUsage(start + timedelta(days=i), dict(per_day.get(start + timedelta(days=i), {})))
            for i in range(days_between(start, end))]
    elapsed = min(max(days_between(start, today) + 1, 1), len(days) or 1)
    projected = used * (len(days) or 1) // elapsed if used else 0
    plan = subscription.plan
    origins = [(code, label, per_origin[code]) for code, label in ORIGINS if per_origin.get(code)]
    origins += [(code, code, seg) for code, seg in per_origin.items() if code not in _ORIGIN_LABELS and seg]
    caps = [
        Cap("Contacts", usage_counts.count(usage_counts.CONTACTS, org_id), plan.contact_cap),
        Cap("Active channels", usage_counts.count(usage_counts.CHANNELS, org_id), plan.channel_cap),
        Cap("Members and pending invitations", member_and_invitation_count(org_id), plan.user_cap),
    ]
    return UsageSummary(subscription=subscription, plan=plan, period_start=start, period_end=end, today=today,
                        used=used, included=plan.included_segments, inbound_messages=inbound,
                        outbound_messages=outbound, days=days, by_origin=origins, projected=projected,
                        caps=caps, show_money=actor.can(Perm.BILLING_MANAGE))


def active_plans() -> list[Plan]:
    """Every plan the pricing page shows and owners may choose, cheapest first."""
    return list(Plan.objects.filter(is_active=True).order_by("sort_order", "monthly_price"))


def statements(*, actor) -> list[Statement]:
    """The organisation's statements, newest first (owners: money)."""
    actor.require(Perm.BILLING_MANAGE)
    with scope(organization=actor.organization_id):
        return list(Statement.objects.filter(organization_id=actor.organization_id))


def statement_for_download(*, actor, statement_id: int,
                           file_format: str) -> tuple[Statement, list[StatementLine]]:
    """One statement and its lines, audited as downloaded; another organisation's id is a 404."""
    actor.require(Perm.BILLING_MANAGE)
    with scope(organization=actor.organization_id):
        statement = Statement.objects.filter(organization_id=actor.organization_id, pk=statement_id).first()
        if statement is None:
            raise Http404("No such statement in your organisation.")
        lines = list(statement.lines.all())
    audit.record(AuditAction.STATEMENT_DOWNLOADED, organization=statement.organization, actor=actor,
                 target=statement, detail={"format": file_format})
    return statement, lines


def usage_csv(*, actor) -> str:
    """This period's daily usage as CSV (day, channel kind, direction, origin, messages, segments)."""
    import csv

    actor.require(Perm.BILLING_VIEW)
    subscription = subscription_for(actor.organization_id)
    with scope(organization=actor.organization_id):
        rows = list(UsageCounter.objects.filter(
            organization_id=actor.organization_id, day__gte=subscription.period_start,
            day__lt=subscription.period_end).order_by("day", "channel_kind", "direction", "origin"))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "channel_kind", "direction", "origin", "messages", "segments"])
    for row in rows:
        writer.writerow([row.day.isoformat(), row.channel_kind, row.direction, row.origin, row.messages,
                         row.segments])
    audit.record(AuditAction.USAGE_EXPORTED, organization=subscription.organization, actor=actor,
                 detail={"rows": len(rows), "format": "csv"})
    return out.getvalue()


def month_usage(organization_id: int, month_start: date, month_end: date) -> dict[str, int]:
    """One organisation's totals for an ops report (the caller has the organisation's scope)."""
    with scope(organization=organization_id):
        totals = {r["direction"]: r for r in UsageCounter.objects.filter(
            organization_id=organization_id, day__gte=month_start, day__lt=month_end)
            .values("direction").annotate(seg=Sum("segments"), msg=Sum("messages"))}
    out = totals.get(OUTBOUND, {})
    inbound = totals.get(INBOUND, {})
    return {"outbound_messages": int(out.get("msg") or 0), "outbound_segments": int(out.get("seg") or 0),
            "inbound_messages": int(inbound.get("msg") or 0)}


__all__ = [
    "ORIGINS",
    "UsageSummary",
    "active_plans",
    "month_usage",
    "segments_used",
    "statement_for_download",
    "statements",
    "usage_csv",
    "usage_summary",
]
