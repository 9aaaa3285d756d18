"""What every send and every API request asks of an organisation's plan, cached per process.

Each partner-API request asks its per-minute budget (the throttle sizes its window by it) and
each send asks whether its segments may go; reading the subscription, plan and the period's
usage through the ORM was a third of a small request's CPU and a fifth of a reply's. Entries
live ``BILLING_PLAN_CACHE_SECONDS``. Only answers that cannot refuse are cached: a plan without
the API, a trial, a plan without overage or a subscription that is not active is asked of the
database every time (its refusal carries today's numbers; a send at the allowance is counted
under the subscription's lock). A subscription or plan saved or deleted in this process drops
the entries (accounts/process_cache.py); other processes follow within the cache time (a rate
limit or an overage plan a few seconds behind a plan change, never a tenant's data).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.process_cache import ProcessCache
from billing.models import Plan, Subscription


def _lifetime() -> float:
    return settings.BILLING_PLAN_CACHE_SECONDS


api_budgets = ProcessCache(_lifetime)  # organisation id -> requests per minute
paid_sending = ProcessCache(_lifetime)  # organisation id -> quotas.PaidSending


@receiver([post_save, post_delete], sender=Subscription, dispatch_uid="billing.plan_cache.subscription")
@receiver([post_save, post_delete], sender=Plan, dispatch_uid="billing.plan_cache.plan")
def _plan_changed(created: bool = False, **kwargs) -> None:
    if created:
        return  # a new row changes nothing already cached (a trial starting on a first send)
    for cache in (api_budgets, paid_sending):  # rare; one plan serves many organisations
        cache.forget_now_and_on_commit()
