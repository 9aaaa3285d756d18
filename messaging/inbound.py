"""The hook through which higher apps (campaigns, the intake bot) see inbound messages.

messaging sits below campaigns and never imports it. A higher app registers a handler in
its ``AppConfig.ready()``::

    from messaging.inbound import register_inbound_handler
    register_inbound_handler(handle_intake_reply)

A handler receives an ``InboundEvent`` of ids only (never PHI) and runs in a Celery task,
inside the organisation's scope, after keywords and consent were applied. A task can be
delivered twice (a worker crash), so handlers must be idempotent on ``message_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

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
_handlers: list[InboundHandler] = []


def register_inbound_handler(fn: InboundHandler) -> InboundHandler:
    """Add a handler (registering the same function twice keeps one). Usable as a decorator."""
    if not callable(fn):
        raise TypeError("register_inbound_handler() needs a callable")
    if fn not in _handlers:
        _handlers.append(fn)
    return fn


def unregister_inbound_handler(fn: InboundHandler) -> None:
    """Remove a handler (tests)."""
    if fn in _handlers:
        _handlers.remove(fn)


def inbound_handlers() -> tuple[InboundHandler, ...]:
    """The registered handlers, in registration order."""
    return tuple(_handlers)


def offer_to_handlers(event: InboundEvent) -> int:
    """Call every handler with ``event``; returns how many succeeded.

    One failing handler does not stop the others: its error is logged (ids only) and the
    rest still see the message.
    """
    succeeded = 0
    for handler in inbound_handlers():
        try:
            handler(event)
        except Exception:
            logger.exception("inbound handler %s failed on message %s",
                             getattr(handler, "__qualname__", handler), event.message_id)
        else:
            succeeded += 1
    return succeeded
