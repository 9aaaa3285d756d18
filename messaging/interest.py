"""Whether an organisation's inbound messages have listeners, cached in the shared cache.

Every webhook asks; the answer changes a few times a day (a questionnaire published, a
campaign started, a partner endpoint added). So it is kept per organisation in the Django
cache (Redis in production, shared by every web process) beside a generation counter that
each change bumps, and an answer only counts while it carries the current generation: one
``MGET`` per webhook, no database query and no stale answer after a change, even when a
reader computed its answer from the database just before the change committed.

A change bumps the generation at once (this transaction's own reads) and again on commit
(what other processes read before the commit). When the cache cannot answer, every message
is offered to the handlers: a lost cache costs a task per message, never a missed reply.
Cached answers also expire after ``INBOUND_INTEREST_CACHE_SECONDS``, for interest that ends
with time (a campaign's reply window closing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Organization

logger = logging.getLogger(__name__)

_watched: set[type[Model]] = set()
# Which set of handlers an answer is about: bumped when handlers register (at start-up,
# identically in every process) or unregister (tests), so an answer never outlives its set.
_handler_set = 0


def _keys(organization_id: int) -> tuple[str, str]:
    return (f"inbound-interest:gen:{organization_id}",
            f"inbound-interest:answer:{_handler_set}:{organization_id}")


def cached(organization_id: int, compute: Callable[[int], object]) -> object:
    """The cached answer for this organisation, or ``compute``'s (then cached); True when the
    cache cannot answer (every handler is then offered the message)."""
    gen_key, answer_key = _keys(organization_id)
    try:
        found = cache.get_many([gen_key, answer_key])
    except Exception:  # the cache is down: offer every message rather than guess
        logger.warning("inbound interest: cache unavailable, offering the message to every handler")
        return True
    generation = found.get(gen_key, 0)
    answer = found.get(answer_key)
    if answer is not None and answer[0] == generation:
        return answer[1]
    wanted = compute(organization_id)
    try:
        cache.set(answer_key, (generation, wanted), settings.INBOUND_INTEREST_CACHE_SECONDS)
    except Exception:
        logger.warning("inbound interest: could not cache the answer")
    return wanted


def changed(organization_id: int) -> None:
    """Invalidate this organisation's answer now and once the current transaction commits."""
    _bump(organization_id)
    transaction.on_commit(partial(_bump, organization_id))


def _bump(organization_id: int) -> None:
    gen_key, answer_key = _keys(organization_id)
    try:
        cache.add(gen_key, 0, None)
        cache.incr(gen_key)
        cache.delete(answer_key)
    except Exception:
        # Never fail the save over it: while the cache is down every message is offered anyway,
        # and an answer it kept from before expires within INBOUND_INTEREST_CACHE_SECONDS.
        logger.exception("inbound interest: could not record a change for organisation %s", organization_id)


def forget_all() -> None:
    """The handlers changed: answers cached for the previous set no longer count."""
    global _handler_set
    _handler_set += 1


def watch(model: type[Model]) -> None:
    """Bump the organisation's generation whenever a ``model`` row is saved or deleted."""
    if model in _watched:
        return
    _watched.add(model)
    post_save.connect(_on_change, sender=model, weak=False,
                      dispatch_uid=f"inbound-interest:{model._meta.label}")
    post_delete.connect(_on_change, sender=model, weak=False,
                        dispatch_uid=f"inbound-interest-delete:{model._meta.label}")


@receiver(post_save, sender=Organization, dispatch_uid="inbound-interest:new-organization")
def _new_organization(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    # An id can come back (a database restored or recreated, e.g. tests) while the cache kept
    # what it knew of the old organisation with that id: a new organisation starts unknown.
    if created and not raw:
        changed(instance.pk)


def _on_change(sender, instance, **kwargs) -> None:
    organization_id = getattr(instance, "organization_id", None)
    if organization_id is not None and not kwargs.get("raw"):
        changed(organization_id)
