"""Event types partners can subscribe to, and ``emit`` — the one call that announces one.

Adding a kind of event is one ``register_event_type`` call in the app that owns it (in its
``apps.py ready()``); the partner-facing name, a description for the endpoint form, and the
payload keys that hold PHI (dropped for endpoints that chose ids-only payloads).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    phi_keys: frozenset[str]


_TYPES: dict[str, EventType] = {}


def register_event_type(name: str, description: str, *, phi_keys=()) -> EventType:
    """Make ``name`` (e.g. ``message.received``) available to endpoints."""
    event = EventType(name=name, description=description, phi_keys=frozenset(phi_keys))
    _TYPES[name] = event
    return event


def event_types() -> dict[str, EventType]:
    return dict(sorted(_TYPES.items()))


def strip_phi(event_type: str, data: dict) -> dict:
    """The payload without the event type's PHI keys (for ids-only endpoints)."""
    phi = _TYPES[event_type].phi_keys if event_type in _TYPES else frozenset(data)
    return {key: value for key, value in data.items() if key not in phi}


def emit(*, organization_id: int, event_type: str, data: dict) -> int:
    """Queue ``event_type`` for every active endpoint of the organisation that wants it.

    Call it inside the transaction that made the change: the deliveries commit with it, and
    are handed to the webhooks queue after the commit (a rolled-back change announces
    nothing). Returns the number of deliveries created. ``data`` must be JSON-ready.
    """
    from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint

    if event_type not in _TYPES:
        raise ValueError(f"unknown event type {event_type!r}: register it first")
    endpoints = [e for e in WebhookEndpoint.objects.filter(organization_id=organization_id, is_active=True)
                 if event_type in e.event_types]
    if not endpoints:
        return 0
    event_id = f"msg_{uuid.uuid4().hex}"
    now = timezone.now()
    envelope = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(organization_id=organization_id, endpoint=endpoint, event_id=event_id,
                        event_type=event_type, next_attempt_at=now,
                        payload=envelope if endpoint.include_phi else {**envelope,
                                                                        "data": strip_phi(event_type, data)})
        for endpoint in endpoints])
    from accounts.event_webhooks.tasks import enqueue_delivery

    for delivery in deliveries:
        transaction.on_commit(partial(enqueue_delivery, organization_id, delivery.pk))
    return len(deliveries)
