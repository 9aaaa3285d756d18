"""Reads of webhook endpoints and their delivery logs, for the settings pages (admins only).

Endpoints hold encrypted signing secrets; the pages show none of them except right after
creation or rotation (the service returns the secret then)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.actor import Actor
from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint
from accounts.roles import Perm


def endpoints(*, actor: Actor) -> QuerySet[WebhookEndpoint]:
    """The organisation's endpoints, oldest first; secrets deferred (never decrypted here)."""
    actor.require(Perm.WEBHOOKS_MANAGE)
    return (WebhookEndpoint.objects.filter(organization_id=actor.organization_id)
            .defer("secret", "previous_secret").order_by("created_at", "pk"))


def endpoint(*, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    """One endpoint of the organisation; another organisation's id is a 404 like a missing one."""
    found = endpoints(actor=actor).filter(pk=endpoint_id).first()
    if found is None:
        raise Http404("No such webhook endpoint in your organisation.")
    return found


def deliveries(*, actor: Actor, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's delivery log, newest first (status and codes only: payloads not loaded)."""
    actor.require(Perm.WEBHOOKS_MANAGE, endpoint)
    return (WebhookDelivery.objects.filter(endpoint=endpoint)
            .defer("payload", "last_response_excerpt").order_by("-created_at", "-pk"))
