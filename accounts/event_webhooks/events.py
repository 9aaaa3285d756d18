"""Event types partners can subscribe to, and ``emit`` — the one call that announces one.

Adding a kind of event is one ``register_event_type`` call in the app that owns it (in its
``apps.py ready()``); the partner-facing name, a description for the endpoint form, and the
payload keys that hold PHI (dropped for endpoints that chose ids-only payloads).
"""

from __future__ import annotations

import hashlib
import time
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


# Which event types each organisation's active endpoints want, per process, for a few seconds:
# status and inbound webhooks emit on their hot path, and most organisations have no endpoint.
SUBSCRIPTION_CACHE_SECONDS = 5.0
_subscriptions: dict[int, tuple[float, frozenset[str]]] = {}


def forget_subscriptions(organization_id: int | None = None) -> None:
    """Drop cached subscriptions (an endpoint changed in this process; tests)."""
    if organization_id is None:
        _subscriptions.clear()
    else:
        _subscriptions.pop(organization_id, None)


def _subscribed_types(organization_id: int) -> frozenset[str]:
    from accounts.event_webhooks.models import WebhookEndpoint

    cached = _subscriptions.get(organization_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < SUBSCRIPTION_CACHE_SECONDS:
        return cached[1]
    types = frozenset(t for row in WebhookEndpoint.objects.filter(organization_id=organization_id,
                                                                   is_active=True)
                      .values_list("event_types", flat=True) for t in row)
    _subscriptions[organization_id] = (now, types)
    return types


def has_subscriber(organization_id: int, event_type: str) -> bool:
    """Does an active endpoint of the organisation want ``event_type``? (read fresh, not cached)"""
    from accounts.event_webhooks.models import WebhookEndpoint

    return any(event_type in (types or ()) for types in WebhookEndpoint.objects.filter(
        organization_id=organization_id, is_active=True).values_list("event_types", flat=True))


def event_id_for(organization_id: int, event_type: str, key: str) -> str:
    """The webhook-id of an event identified by ``key`` (the same event always gets the same id)."""
    digest = hashlib.sha256(f"{organization_id}:{event_type}:{key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def emit(*, organization_id: int, event_type: str, data: dict, key: str | None = None) -> int:
    """Queue ``event_type`` for every active endpoint of the organisation that wants it.

    Call it inside the transaction that made the change: the deliveries commit with it, and
    are handed to the webhooks queue after the commit (a rolled-back change announces
    nothing). ``key`` names the event (e.g. the message id and status): emitting the same
    event again — a retried task, a repeated provider webhook — creates no second delivery.
    Returns the number of endpoints the event is for. ``data`` must be JSON-ready.
    """
    from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint

    if event_type not in _TYPES:
        raise ValueError(f"unknown event type {event_type!r}: register it first")
    if event_type not in _subscribed_types(organization_id):
        return 0
    endpoints = [e for e in WebhookEndpoint.objects.filter(organization_id=organization_id, is_active=True)
                 if event_type in e.event_types]
    if not endpoints:
        return 0
    event_id = event_id_for(organization_id, event_type, key) if key else f"msg_{uuid.uuid4().hex}"
    now = timezone.now()
    envelope = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(organization_id=organization_id, endpoint=endpoint, event_id=event_id,
                        event_type=event_type, next_attempt_at=now,
                        payload=envelope if endpoint.include_phi else {**envelope,
                                                                        "data": strip_phi(event_type, data)})
        for endpoint in endpoints], ignore_conflicts=True)
    fresh = WebhookDelivery.objects.filter(event_id=event_id, status=WebhookDelivery.Status.PENDING,
                                           attempts=0).values_list("pk", flat=True)
    from accounts.event_webhooks.tasks import enqueue_delivery

    for delivery_id in fresh:
        transaction.on_commit(partial(enqueue_delivery, organization_id, delivery_id))
    return len(endpoints)
