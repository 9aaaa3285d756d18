"""The partner API's per-minute budget on an organisation's plan, cached per process.

Every API request asks it (the throttle sizes its window by it); reading the subscription and
plan through the ORM was a third of a small request's CPU. Only an allowed budget is cached,
``BILLING_API_BUDGET_CACHE_SECONDS``: a plan without the API is asked of the database every
time, so its 402 always carries today's numbers. A subscription or plan saved or deleted in
this process drops the entries (accounts/process_cache.py); other processes follow within the
cache time (a rate limit a few seconds behind a plan change, never a tenant's data).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.process_cache import ProcessCache
from billing.models import Plan, Subscription

_budgets = ProcessCache(lambda: settings.BILLING_API_BUDGET_CACHE_SECONDS)


def api_budget(organization_id: int, read: Callable[[int], int]) -> int:
    """The organisation's requests per minute: cached, else ``read(organization_id)`` (which
    raises when the plan has no partner API; a refusal is not cached)."""
    return _budgets.get(organization_id, lambda: read(organization_id))


def forget_all() -> None:
    """Drop every entry (tests)."""
    _budgets.forget()


@receiver([post_save, post_delete], sender=Subscription, dispatch_uid="billing.api_budget.subscription")
@receiver([post_save, post_delete], sender=Plan, dispatch_uid="billing.api_budget.plan")
def _plan_changed(created: bool = False, **kwargs) -> None:
    if created:
        return  # a new row changes no budget already cached (a trial starting on a first send)
    _budgets.forget_now_and_on_commit()  # rare; one plan serves many organisations
