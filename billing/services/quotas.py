"""Quotas: what the organisation's plan allows, asked by the services that act (never views).

Each check raises ``billing.QuotaExceeded`` with a machine-readable code and a sentence that
gives the numbers and says what to do next. Checks that guard a count (contacts, channels,
users) lock the subscription row, so two imports racing for the last free contacts are
serialised: call them inside the transaction that then adds the rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django_scopes import scope

from billing import usage_counts
from billing.exceptions import QuotaExceeded
from billing.models import Plan, Subscription, UsageCounter, UsageNotice
from billing.periods import Feature, format_money, overage_cost
from billing.plan_cache import api_budgets, paid_sending
from billing.services.metering import OUTBOUND
from billing.services.subscriptions import member_and_invitation_count, subscription_for

_UPGRADE = "Upgrade your plan on the Billing page"
_FEATURE_NAMES = {Feature.WHATSAPP: "WhatsApp channels", Feature.API: "the partner API",
                  Feature.INTAKE: "the intake bot", Feature.REMINDERS: "appointment reminders"}


@dataclass(frozen=True)
class Allowance:
    """What sending ``needed`` more segments does to this period's allowance."""

    needed: int
    included: int
    used: int
    remaining: int  # included segments left before this send
    overage_segments: int  # of ``needed``, how many are beyond the included ones
    overage_cost: int  # minor units
    currency: str


CostEstimate = Allowance  # the campaign preview reads the same numbers


def segments_used(organization_id: int, start: date, end: date) -> int:
    """Outbound segments the organisation sent on days ``start`` ≤ day < ``end``."""
    with scope(organization=organization_id):
        total = (UsageCounter.objects.filter(organization_id=organization_id, direction=OUTBOUND,
                                             day__gte=start, day__lt=end)
                 .aggregate(total=Sum("segments"))["total"])
    return int(total or 0)


def _subscription_with_usage(organization_id: int) -> Subscription:
    """The subscription, its plan and its period's outbound segments (``period_segments_used``) in one
    statement: every send asks, so the sum rides along instead of a second round trip."""
    with scope(organization=organization_id):
        used = (UsageCounter.objects.filter(organization_id=organization_id, direction=OUTBOUND,
                                            day__gte=OuterRef("period_start"), day__lt=OuterRef("period_end"))
                .values("organization_id").annotate(total=Sum("segments")).values("total"))
        subscription = (Subscription.objects.select_related("plan").filter(organization_id=organization_id)
                        .annotate(period_segments_used=Coalesce(Subquery(used), 0)).first())
    if subscription is None:  # an organisation that predates billing: subscription_for starts its trial
        subscription_for(organization_id)
        return _subscription_with_usage(organization_id)
    return subscription


def _allowance(subscription: Subscription, needed: int, used: int) -> Allowance:
    plan = subscription.plan
    remaining = max(plan.included_segments - used, 0)
    overage = max(needed - remaining, 0)
    return Allowance(needed=needed, included=plan.included_segments, used=used, remaining=remaining,
                     overage_segments=overage,
                     overage_cost=overage_cost(overage, plan.overage_price_per_1000),
                     currency=plan.currency)


def _refuse_inactive(subscription: Subscription, what: str) -> None:
    if subscription.status == Subscription.Status.PAST_DUE:
        raise QuotaExceeded(
            "subscription_past_due",
            f"Your organisation's statement is past due, so {what} is paused. Ask an owner to pay the "
            "open statement (Billing → Statements); it resumes as soon as the payment is recorded.",
            upgrade=False)
    if subscription.status == Subscription.Status.CANCELLED:
        raise QuotaExceeded(
            "subscription_cancelled",
            f"Your organisation's subscription is cancelled, so {what} is not possible. Ask an owner to "
            "choose a plan on the Billing page.", upgrade=False)


def estimate_cost(*, organization_id: int, segments: int) -> CostEstimate:
    """Included segments remaining, the overage segments and their cost (minor units) if
    ``segments`` were sent now. Never raises: the campaign preview shows the numbers."""
    subscription = _subscription_with_usage(organization_id)
    return _allowance(subscription, int(segments), subscription.period_segments_used)


def check_segments(*, organization_id: int, segments: int) -> Allowance:
    """Whether ``segments`` more segments may be sent this period; returns the allowance.

    Beyond the included segments, paid plans send as overage (billed on the statement); a plan
    without overage (Free), a trial, and a past-due or cancelled subscription refuse. Crossing
    80 % or 100 % of the included segments is announced once per period.

    An active paid plan with overage never refuses, and every send asks: its answer is kept per
    process for a few seconds (billing/plan_cache.py), with the period's usage as read then plus
    what this process has metered since (``PaidSending``). The others are read, and at the allowance
    counted under the subscription's lock, on every call.
    """
    answer = paid_sending.get(organization_id, lambda: _sending_answer(organization_id),
                              keep=lambda a: isinstance(a, PaidSending))
    if isinstance(answer, PaidSending):
        return answer.take(int(segments))
    subscription = answer
    _refuse_inactive(subscription, "sending")
    plan, used = subscription.plan, subscription.period_segments_used
    if transaction.get_connection().in_atomic_block:
        # Refusing at the allowance: serialise the organisation's sends so two cannot both
        # take the last segments (paid plans never refuse, so they never wait here). The usage
        # is read again after the lock, in a statement of its own: a statement that waited for
        # the lock still sees the data of before it waited, not the other send's usage.
        subscription = subscription_for(organization_id, lock=True)
        used = segments_used(organization_id, subscription.period_start, subscription.period_end)
    allowance = _allowance(subscription, int(segments), used)
    if allowance.overage_segments:
        if plan.allows_overage:
            what_next = (f"Confirm {plan.name} on the Billing page to end the trial's limit (overage is "
                         f"{format_money(plan.overage_price_per_1000, plan.currency)} per 1,000 segments)")
        else:
            what_next = (f"{_UPGRADE} to keep sending (paid plans continue as overage), "
                         "or wait for the next period")
        raise QuotaExceeded(
            "segments_exhausted",
            f"This needs {allowance.needed:,} segments but only {allowance.remaining:,} of your "
            f"{allowance.included:,} included segments are left this period ({allowance.used:,} used). "
            f"{what_next}.",
            needed=allowance.needed, included=allowance.included, used=allowance.used,
            remaining=allowance.remaining)
    # What the usage had reached before this send was announced by the sends that got it there.
    announced = _reached(allowance.included, allowance.used, announced=())
    for threshold in _reached(allowance.included, allowance.used + allowance.needed, announced):
        _announce(subscription, threshold)
    return allowance


def _sending_answer(organization_id: int) -> PaidSending | Subscription:
    """What a send is checked against: an active overage plan's ``PaidSending`` (kept per process:
    it never refuses), else the subscription with its usage (read on every send)."""
    subscription = _subscription_with_usage(organization_id)
    if subscription.status == Subscription.Status.ACTIVE and subscription.plan.allows_overage:
        return PaidSending.read(subscription)
    return subscription


def _reached(included: int, segments: int, announced) -> list[int]:
    """The warning thresholds ``segments`` of the ``included`` ones reach, less ``announced``."""
    if not included:
        return []
    return [t for t in settings.BILLING_WARNING_THRESHOLDS
            if t not in announced and segments * 100 // included >= t]


@dataclass
class PaidSending:
    """An active overage plan's sending, as one process sees it between two reads.

    ``used`` is the period's outbound segments when read plus what this process has metered
    since (``metered``; other processes' sends are seen at the next read, a rolled-back send's
    until then); ``announced`` the thresholds with a notice this period. A check announces what
    its segments would reach unless a notice exists (asking, as a campaign does when scheduled
    and when it starts, counts nothing); a notice lost with a rolled-back send is found missing,
    and sent, at the next read.
    """

    subscription: Subscription
    used: int
    announced: set[int]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def read(cls, subscription: Subscription) -> PaidSending:
        with scope(organization=subscription.organization_id):
            announced = set(UsageNotice.objects.filter(
                organization_id=subscription.organization_id, period_start=subscription.period_start,
            ).values_list("threshold", flat=True))
        return cls(subscription, subscription.period_segments_used, announced)

    def take(self, segments: int) -> Allowance:
        with self._lock:
            allowance = _allowance(self.subscription, segments, self.used)
            due = _reached(allowance.included, self.used + segments, self.announced)
            self.announced.update(due)
        for threshold in due:
            _announce(self.subscription, threshold)
        return allowance

    def metered(self, segments: int) -> None:
        with self._lock:
            self.used += segments


def _announce(subscription: Subscription, threshold: int) -> None:
    from billing.tasks import send_usage_notice

    try:
        with transaction.atomic():
            UsageNotice.objects.create(organization_id=subscription.organization_id,
                                       period_start=subscription.period_start, threshold=threshold)
    except IntegrityError:
        return  # announced already this period
    org_id = subscription.organization_id
    transaction.on_commit(lambda: send_usage_notice.delay(org_id=org_id, threshold=threshold))


def check_contacts(*, organization_id: int, adding: int) -> int:
    """How many of ``adding`` new contacts fit under the plan's cap (all of them when there is
    none); raises when none fit. Counted under the subscription's row lock: call it in the
    transaction that inserts them, and insert at most the number returned."""
    with transaction.atomic():
        subscription = subscription_for(organization_id, lock=True)
        _refuse_inactive(subscription, "adding contacts")
        cap = subscription.plan.contact_cap
        if cap is None or adding <= 0:
            return max(adding, 0)
        have = usage_counts.count(usage_counts.CONTACTS, organization_id)
        fits = max(cap - have, 0)
        if fits == 0:
            raise QuotaExceeded(
                "contact_cap",
                f"Your {subscription.plan.name} plan holds {cap:,} contacts and you have {have:,}, so "
                f"none of the {adding:,} new ones fit. {_UPGRADE}, or delete contacts you no longer need.",
                needed=adding, included=cap, used=have, remaining=0)
        return min(adding, fits)


def check_channels(*, organization_id: int, kind: str) -> None:
    """Whether one more active channel of ``kind`` fits the plan (its cap, and WhatsApp)."""
    with transaction.atomic():
        subscription = subscription_for(organization_id, lock=True)
        _refuse_inactive(subscription, "adding channels")
        plan = subscription.plan
        if kind == "whatsapp" and not plan.feature_whatsapp:
            raise QuotaExceeded(
                "feature_whatsapp",
                f"Your {plan.name} plan has no WhatsApp channels. {_UPGRADE} to a plan with WhatsApp, "
                "or add an SMS channel instead.", needed=1, included=0, used=0, remaining=0)
        cap = plan.channel_cap
        if cap is None:
            return
        have = usage_counts.count(usage_counts.CHANNELS, organization_id)
        if have >= cap:
            raise QuotaExceeded(
                "channel_cap",
                f"Your {plan.name} plan allows {cap} active channel{'s' if cap != 1 else ''} and you have "
                f"{have}. {_UPGRADE}, or deactivate a channel you no longer use.",
                needed=1, included=cap, used=have, remaining=0)


def check_users(*, organization_id: int, adding: int = 1) -> None:
    """Whether ``adding`` more members fit the plan's user cap (pending invitations hold seats)."""
    with transaction.atomic():
        subscription = subscription_for(organization_id, lock=True)
        _refuse_inactive(subscription, "inviting members")
        plan = subscription.plan
        cap = plan.user_cap
        if cap is None:
            return
        have = member_and_invitation_count(organization_id)
        if have + adding > cap:
            raise QuotaExceeded(
                "user_cap",
                f"Your {plan.name} plan allows {cap} members and you have {have} (members and pending "
                f"invitations). {_UPGRADE}, or remove a member or withdraw an invitation first.",
                needed=adding, included=cap, used=have, remaining=max(cap - have, 0))


def check_feature(*, organization_id: int, feature: str) -> None:
    """Whether the plan includes ``feature`` (``api``, ``intake``, ``reminders``, ``whatsapp``)."""
    _require_feature(subscription_for(organization_id).plan, Feature(feature))


def _require_feature(plan: Plan, feature: Feature) -> None:
    if not plan.has_feature(feature):
        with_it = ", ".join(p.name for p in Plan.objects.filter(is_active=True)
                            if p.has_feature(feature)) or "none"
        raise QuotaExceeded(
            f"feature_{feature.value}",
            f"Your {plan.name} plan does not include {_FEATURE_NAMES[feature]} (plans with it: {with_it}). "
            f"{_UPGRADE} to use it.")


def api_requests_per_minute(*, organization_id: int) -> int:
    """The partner API's request budget per minute on the organisation's plan (for the API's
    throttle); raises ``feature_api`` when the plan has no partner API."""
    return api_budgets.get(organization_id, lambda: _read_api_budget(organization_id))  # every request asks


def _read_api_budget(organization_id: int) -> int:
    plan = subscription_for(organization_id).plan
    _require_feature(plan, Feature.API)
    return plan.api_requests_per_minute
