"""Template helpers for billing pages: money and caps, formatted without floats."""

from django import template

from billing.periods import format_money

register = template.Library()


@register.filter
def money(minor, currency="USD") -> str:
    """``{{ plan.monthly_price|money:plan.currency }}`` → ``$49.00``."""
    return format_money(int(minor or 0), currency)


@register.filter
def cap(value) -> str:
    """A cap, or "Unlimited" when the plan has none."""
    return "Unlimited" if value is None else f"{value:,}"


@register.filter
def tens(percent) -> int:
    """A percentage rounded down to tens (progress bars are sized by class, not inline style)."""
    return min(max(int(percent or 0) // 10 * 10, 0), 100)


@register.inclusion_tag("billing/_banner.html", takes_context=True)
def billing_banner(context) -> dict:
    """The usage banner owners and admins see on every page: a threshold reached this period
    (80 or 100 %), a past-due statement, or a trial ending within three days. Two queries."""
    from datetime import timedelta

    from django.utils import timezone
    from django_scopes import scope

    from billing.models import Subscription, UsageNotice

    organization = context.get("current_organization")
    if organization is None:
        return {}
    with scope(organization=organization.pk):
        subscription = (Subscription.objects.select_related("plan")
                        .filter(organization_id=organization.pk).first())
        if subscription is None:
            return {}
        threshold = (UsageNotice.objects.filter(organization_id=organization.pk,
                                                period_start=subscription.period_start)
                     .order_by("-threshold").values_list("threshold", flat=True).first())
    trial_ending = (subscription.status == Subscription.Status.TRIAL and not subscription.continue_after_trial
                    and subscription.trial_ends_at is not None
                    and subscription.trial_ends_at <= timezone.now() + timedelta(days=3))
    return {"subscription": subscription, "threshold": threshold, "trial_ending": trial_ending,
            "past_due": subscription.status == Subscription.Status.PAST_DUE}
