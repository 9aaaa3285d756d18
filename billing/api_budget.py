"""The partner API's per-minute budget on an organisation's plan, cached per process.

Every API request asks it (the throttle sizes its window by it); reading the subscription and
plan through the ORM was a third of a small request's CPU. Only an allowed budget is cached,
``BILLING_API_BUDGET_CACHE_SECONDS``: a plan without the API is asked of the database every
time, so its 402 always carries today's numbers. Saving or deleting a subscription or a plan
drops this process's entries at once and again on commit; other processes follow within the
cache time (a rate limit a few seconds behind a plan change, never a tenant's data).
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.models import Plan, Subscription

_MAX_ENTRIES = 10_000
_entries: dict[int, tuple[float, int]] = {}
_lock = threading.Lock()  # gthread workers share the dict
# Bumped by every change: a read that began before a change must not store what it read.
_generation = 0


def api_budget(organization_id: int, read) -> int:
    """The organisation's requests per minute: cached, else ``read(organization_id)`` (which
    raises when the plan has no partner API; a refusal is not cached)."""
    now = time.monotonic()
    entry = _entries.get(organization_id)
    if entry is not None and entry[0] > now:
        return entry[1]
    generation = _generation
    budget = read(organization_id)
    ttl = settings.BILLING_API_BUDGET_CACHE_SECONDS
    if ttl > 0:
        with _lock:
            if generation == _generation:
                if len(_entries) >= _MAX_ENTRIES:
                    _entries.clear()
                _entries[organization_id] = (now + ttl, budget)
    return budget


def forget_all() -> None:
    """Drop every entry (a plan or subscription changed; tests)."""
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


@receiver([post_save, post_delete], sender=Subscription, dispatch_uid="billing.api_budget.subscription")
@receiver([post_save, post_delete], sender=Plan, dispatch_uid="billing.api_budget.plan")
def _plan_changed(created: bool = False, **kwargs) -> None:
    if created:
        return  # a new row changes no budget already cached (a trial starting on a first send)
    # Inside the writer's transaction another thread may still cache the old committed row, so
    # the entries go again once the change is visible.
    forget_all()
    transaction.on_commit(forget_all)
