"""The hook through which higher apps (campaigns, the intake bot) see inbound messages.

messaging sits below campaigns and never imports it. A higher app registers a handler in
its ``AppConfig.ready()``::

    from messaging.inbound import register_inbound_handler
    register_inbound_handler(handle_intake_reply)

A handler receives an ``InboundEvent`` of ids only (never PHI) and runs in a Celery task,
inside the organisation's scope, after keywords and consent were applied. A task can be
delivered twice (a worker crash), so handlers must be idempotent on ``message_id``.

Queueing that task costs more than the rest of a webhook's Python work, and most
organisations have nobody listening most of the time (no questionnaire, no recent campaign,
no partner endpoint). So a handler may say when it listens: ``wants(organization_id)`` is a
database check, and ``watch`` the models whose changes can turn it on. The answer is cached
per organisation (see ``interest``); a handler without ``wants`` hears every message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Model

from messaging import interest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundEvent:
    """An inbound message stored and acknowledged; load rows by id to read content."""

    organization_id: int
    channel_id: int
    message_id: int
    conversation_id: int | None
    contact_id: int | None
    # "stop" / "start" / "help" when the message was a keyword (consent already updated).
    keyword: str | None = None


InboundHandler = Callable[[InboundEvent], None]
# Does this handler want the organisation's inbound messages now? (a database check)
Interest = Callable[[int], bool]
_handlers: list[InboundHandler] = []
_interests: dict[InboundHandler, Interest | None] = {}


def register_inbound_handler(fn: InboundHandler | None = None, *, wants: Interest | None = None,
                             watch: Iterable[type[Model]] = ()):
    """Add a handler (registering the same function twice keeps one). Usable as a decorator.

    ``wants``: when given, the handler only hears organisations for which it answers True;
    ``watch``: models (with ``organization_id``) whose save or delete may change that answer.
    A change made another way (``QuerySet.update``) must call ``interest_changed`` itself.
    """
    if fn is None:
        return lambda f: register_inbound_handler(f, wants=wants, watch=watch)
    if not callable(fn) or (wants is not None and not callable(wants)):
        raise TypeError("register_inbound_handler() needs callables")
    if fn not in _handlers:
        _handlers.append(fn)
    _interests[fn] = wants
    for model in watch:
        interest.watch(model)
    interest.forget_all()
    return fn


def unregister_inbound_handler(fn: InboundHandler) -> None:
    """Remove a handler (tests)."""
    if fn in _handlers:
        _handlers.remove(fn)
        _interests.pop(fn, None)
        interest.forget_all()


def inbound_handlers() -> tuple[InboundHandler, ...]:
    """The registered handlers, in registration order."""
    return tuple(_handlers)


def has_listeners(organization_id: int) -> bool:
    """Would any handler hear this organisation's inbound message? (cached; see ``interest``)"""
    return bool(listening_handlers(organization_id))


def listening_handlers(organization_id: int) -> tuple[InboundHandler, ...]:
    """The handlers that want this organisation's inbound messages (a handler without ``wants``
    always does). Cached with the organisation's interest answer, so a message the intake bot
    hears is not also offered to campaigns that sent nothing (each offer costs queries)."""
    if not _handlers:
        return ()
    answer = interest.cached(organization_id, _wanting)
    if answer is True:  # the cache cannot answer: offer it to every handler
        return tuple(_handlers)
    if not answer:
        return ()
    return tuple(_handlers[n] for n in answer if n < len(_handlers))


def _wanting(organization_id: int) -> tuple[int, ...]:
    """Positions (in registration order, the same in every process) of the handlers that want it."""
    return tuple(n for n, handler in enumerate(_handlers)
                 if (wants := _interests.get(handler)) is None or wants(organization_id))


def interest_changed(organization_id: int) -> None:
    """Something a handler's ``wants`` reads changed for this organisation: ask again."""
    interest.changed(organization_id)


def offer_to_handlers(event: InboundEvent) -> int:
    """Call every handler with ``event``; returns how many succeeded.

    One failing handler does not stop the others: its error is logged (ids only) and the
    rest still see the message.
    """
    succeeded = 0
    for handler in listening_handlers(event.organization_id):
        try:
            handler(event)
        except Exception:
            logger.exception("inbound handler %s failed on message %s",
                             getattr(handler, "__qualname__", handler), event.message_id)
        else:
            succeeded += 1
    return succeeded
