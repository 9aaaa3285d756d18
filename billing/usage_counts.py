"""How many contacts and channels an organisation has, counted by the apps that own them.

billing sits below contacts and messaging and must not import them, so those apps register
a counter here in their ``AppConfig.ready()``. A counter takes the organisation id (and, for
channels, an optional channel kind) and returns a count of rows that count against the plan.
"""

from __future__ import annotations

from collections.abc import Callable

CONTACTS = "contacts"
CHANNELS = "channels"

_counters: dict[str, Callable[..., int]] = {}


def register_counter(resource: str, counter: Callable[..., int]) -> None:
    """Register the counter of ``resource`` (``contacts`` or ``channels``); the last one wins."""
    if resource not in (CONTACTS, CHANNELS):
        raise ValueError(f"unknown billing resource {resource!r}")
    _counters[resource] = counter


def count(resource: str, organization_id: int, **filters) -> int:
    """The organisation's count of ``resource``; 0 when no app registered a counter for it."""
    counter = _counters.get(resource)
    return int(counter(organization_id, **filters)) if counter is not None else 0


def registered() -> frozenset[str]:
    return frozenset(_counters)
