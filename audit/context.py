"""Per-request audit context (request id, client address, user agent, actor, organisation).

Context variables, so the values follow the request through threads and async code
without being passed to every service call.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    actor: Any = None
    organization: Any = None


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("audit_request_context")


def current() -> RequestContext:
    """The audit context of the running request (empty outside one)."""
    return _current.get(_EMPTY)


def bind(**values):
    """Replace fields of the current context; returns a token for `reset`."""
    merged = {**current().__dict__, **values}
    return _current.set(RequestContext(**merged))


def reset(token) -> None:
    _current.reset(token)
