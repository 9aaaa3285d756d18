"""Subscriptions: the trial a new organisation starts on, plan changes, trial expiry.

Every function here enters the scope of the organisation it is given: billing is asked by
other apps' services, by ops commands that span organisations and by sign-up (which has no
scope yet), and it must always read exactly one organisation's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_scopes import scope

import audit
from accounts.models import Invitation, Membership, Organization
from accounts.roles import Perm
from audit import AuditAction
from billing import usage_counts
from billing.catalogue import ensure_default_plans
from billing.exceptions import PlanChangeRefused
from billing.models import Plan, PlanSpan, Subscription
from billing.periods import local_day, month_start, next_month_start


def _organization(organization_or_id) -> Organization:
    if isinstance(organization_or_id, Organization):
        return organization_or_id
    return Organization.objects.get(pk=organization_or_id)


def subscription_for(organization_id: int, *, lock: bool = False) -> Subscription:
    """The organisation's subscription (with its plan), row-locked when ``lock``.

    An organisation that predates billing gets its trial the first time billing is asked.
    """
    with scope(organization=organization_id):
        qs = Subscription.objects.select_related("plan")
        if lock:
            qs = qs.select_for_update(of=("self",))
        subscription = qs.filter(organization_id=organization_id).first()
    if subscription is None:
        # A default, not anyone's action: organisations created since billing exists got theirs
        # (audited) from start_trial when they were created.
        _create_trial(_organization(organization_id), settings.BILLING_TRIAL_PLAN)
        return subscription_for(organization_id, lock=lock)
    return subscription


@transaction.atomic
def start_trial(*, organization: Organization, plan_code: str) -> Subscription:
    """Start a new organisation on a trial of ``plan_code`` (a plan without trial days, such as
    Free, starts active). Idempotent: an organisation that has a subscription keeps it."""
    subscription, created = _create_trial(organization, plan_code)
    if created:
        audit.record(AuditAction.SUBSCRIPTION_STARTED, organization=organization, actor=None,
                     target=subscription, detail={"plan": subscription.plan.code,
                                                  "trial": subscription.status == Subscription.Status.TRIAL,
                                                  "trial_days": subscription.plan.trial_days})
    return subscription


@transaction.atomic
def _create_trial(organization: Organization, plan_code: str) -> tuple[Subscription, bool]:
    plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None and not Plan.objects.exists():
        ensure_default_plans(Plan)  # an empty catalogue (flushed tables): start from the defaults
        plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None:
        raise ValueError(f"No active plan {plan_code!r} to start a trial on.")
    now = timezone.now()
    today = local_day(organization.timezone, now)
    trial = plan.trial_days > 0
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                organization=organization, plan=plan,
                status=Subscription.Status.TRIAL if trial else Subscription.Status.ACTIVE,
                trial_ends_at=now + timedelta(days=plan.trial_days) if trial else None,
                period_start=month_start(today), period_end=next_month_start(today))
    except IntegrityError:  # a concurrent first question about this organisation made it
        with scope(organization=organization):
            return Subscription.objects.select_related("plan").get(organization=organization), False
    PlanSpan.objects.create(organization=organization, plan=plan, starts_on=today, is_trial=trial)
    return subscription, True


@dataclass(frozen=True)
class Fit:
    """How the organisation measures against one plan: the refusals, empty when it fits."""

    reasons: list[str]

    @property
    def fits(self) -> bool:
        return not self.reasons


def member_and_invitation_count(organization_id: int) -> int:
    """Members plus pending invitations: an invitation holds a seat until it is used or expires."""
    with scope(organization=organization_id):
        members = Membership.objects.filter(organization_id=organization_id).count()
        pending = Invitation.objects.filter(organization_id=organization_id, accepted_at=None,
                                            revoked_at=None, expires_at__gt=timezone.now()).count()
    return members + pending


def fit_against(organization_id: int, plan: Plan) -> Fit:
    """Whether the organisation's contacts, channels and users fit ``plan`` (with the numbers)."""
    reasons = []
    contacts = usage_counts.count(usage_counts.CONTACTS, organization_id)
    if plan.contact_cap is not None and contacts > plan.contact_cap:
        reasons.append(f"You have {contacts:,} contacts and {plan.name} holds {plan.contact_cap:,}: "
                       f"delete {contacts - plan.contact_cap:,} first.")
    channels = usage_counts.count(usage_counts.CHANNELS, organization_id)
    if plan.channel_cap is not None and channels > plan.channel_cap:
        reasons.append(f"You have {channels} active channels and {plan.name} allows {plan.channel_cap}: "
                       f"deactivate {channels - plan.channel_cap} first.")
    if not plan.feature_whatsapp:
        whatsapp = usage_counts.count(usage_counts.CHANNELS, organization_id, kind="whatsapp")
        if whatsapp:
            reasons.append(f"{plan.name} has no WhatsApp and you have {whatsapp} active WhatsApp "
                           "channel(s): deactivate them first.")
    users = member_and_invitation_count(organization_id)
    if plan.user_cap is not None and users > plan.user_cap:
        reasons.append(f"You have {users} members and pending invitations and {plan.name} allows "
                       f"{plan.user_cap}: remove {users - plan.user_cap} or withdraw invitations first.")
    return Fit(reasons)


@transaction.atomic
def change_plan(*, actor, plan_code: str) -> Subscription:
    """Move the actor's organisation to ``plan_code`` from today (its time zone); owners only.

    A downgrade the organisation does not fit is refused with every number, and nothing
    changes. During a trial, choosing a plan (even the trial's own) means "continue on it
    after the trial". The statement prices each plan by the days it was held.
    """
    actor.require(Perm.BILLING_MANAGE)
    organization_id = actor.organization_id
    subscription = subscription_for(organization_id, lock=True)
    plan = Plan.objects.filter(code=plan_code).first()
    if plan is None or not plan.is_active:
        raise PlanChangeRefused("That plan is not offered any more. Choose one of the plans on this page.")
    if plan.contact_sales:
        raise PlanChangeRefused(f"{plan.name} is set up with our team: contact sales to move to it.")
    fit = fit_against(organization_id, plan)
    if not fit.fits:
        raise PlanChangeRefused(f"Your organisation does not fit {plan.name} yet.", reasons=fit.reasons)
    previous = subscription.plan
    if plan.pk == previous.pk and subscription.continue_after_trial and \
            subscription.status != Subscription.Status.CANCELLED:
        return subscription
    today = local_day(subscription.organization.timezone)
    if plan.pk != previous.pk:
        _switch_span(subscription, plan, today, is_trial=subscription.status == Subscription.Status.TRIAL)
        subscription.plan = plan
    subscription.continue_after_trial = True
    if subscription.status == Subscription.Status.CANCELLED:
        subscription.status = Subscription.Status.ACTIVE  # choosing a plan subscribes again
    subscription.save(update_fields=["plan", "status", "continue_after_trial", "updated_at"])
    audit.record(AuditAction.PLAN_CHANGED, organization=subscription.organization, actor=actor,
                 target=subscription, detail={"from_plan": previous.code, "to_plan": plan.code,
                                              "status": subscription.status})
    return subscription


def _switch_span(subscription: Subscription, plan: Plan, today, *, is_trial: bool) -> None:
    """End the current plan span today and start ``plan``'s (a span of zero days is dropped)."""
    with scope(organization=subscription.organization_id):
        current = PlanSpan.objects.filter(organization_id=subscription.organization_id,
                                          ends_on=None).order_by("-starts_on", "-pk").first()
        if current is not None:
            if current.starts_on >= today:
                current.delete()  # changed again on the day it started: that plan held no day
            else:
                current.ends_on = today
                current.save(update_fields=["ends_on"])
        PlanSpan.objects.create(organization_id=subscription.organization_id, plan=plan,
                                starts_on=today, is_trial=is_trial)


def end_trial(subscription: Subscription, *, now: datetime, actor) -> Subscription:
    """A trial that has ended: continue on the plan the owner chose, else move to Free."""
    organization = subscription.organization
    day = local_day(organization.timezone, subscription.trial_ends_at or now)
    free = Plan.objects.get(code=settings.BILLING_FALLBACK_PLAN)
    target = subscription.plan if subscription.continue_after_trial else free
    _switch_span(subscription, target, day, is_trial=False)
    previous = subscription.plan
    subscription.plan = target
    subscription.status = Subscription.Status.ACTIVE
    subscription.save(update_fields=["plan", "status", "updated_at"])
    audit.record(AuditAction.TRIAL_ENDED, organization=organization, actor=actor, target=subscription,
                 detail={"from_plan": previous.code, "to_plan": target.code,
                         "continued": subscription.continue_after_trial})
    return subscription
