"""Outbound event webhooks: Standard Webhooks signatures a partner verifies with the library,
retries with backoff, disabling after sustained failure, rotation overlap, ids-only
payloads, the delivery log, and the SSRF guard."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.actor import actor_for
from accounts.event_webhooks import delivery as wire
from accounts.event_webhooks import services
from accounts.event_webhooks.events import emit
from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint
from audit import AuditAction
from audit.models import AuditEvent
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
def admin(tenant_a):
    return actor_for(tenant_a.admin, tenant_a.org)


def _register(tenant, actor, url, **kwargs):
    with tenant.scope():
        return services.create_endpoint(actor=actor, url=url, event_types=["message.received"],
                                        **kwargs)


def _emit(tenant, data=None, django_capture_on_commit_callbacks=None):
    with tenant.scope(), django_capture_on_commit_callbacks(execute=True):
        return emit(organization_id=tenant.org.pk, event_type="message.received",
                    data=data or {"message_id": 7, "from": "+14155550100", "body": "Chest pain"})


def test_a_partner_verifies_the_delivery_with_the_standard_webhooks_library(
        tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    _endpoint, secret = _register(tenant_a, admin, receiver.url, include_phi=True)
    assert secret.startswith("whsec_")
    assert _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks) == 1
    request = receiver.last_request
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "message.received" and payload["data"]["body"] == "Chest pain"
    assert request.headers["webhook-id"].startswith("msg_")
    with tenant_a.scope():
        logged = WebhookDelivery.objects.get()
    assert (logged.status, logged.attempts, logged.last_status_code) == ("succeeded", 1, 200)
    assert len(logged.last_response_excerpt) == wire.EXCERPT_BYTES  # 3 kB answer, 1 kB kept
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43).verify(request.body, request.headers)


def test_ids_only_endpoints_get_no_phi(tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    _, secret = _register(tenant_a, admin, receiver.url, include_phi=False)
    _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    payload = Webhook(secret).verify(receiver.last_request.body, receiver.last_request.headers)
    assert payload["data"] == {"message_id": 7}
    assert b"Chest" not in receiver.last_request.body and b"+1415" not in receiver.last_request.body


def test_a_failing_partner_is_retried_with_backoff_then_switched_off_and_admins_told(
        tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = _register(tenant_a, admin, receiver.url)
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    receiver.fail_next(len(wire.RETRY_DELAYS) + 1, status=500)
    with time_machine.travel(start, tick=False) as clock:
        _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
        with tenant_a.scope():
            delivery = WebhookDelivery.objects.get()
            waits = []
            for _ in wire.RETRY_DELAYS:
                delivery.refresh_from_db()
                assert delivery.status == "pending"
                waits.append(delivery.next_attempt_at - timezone.now())
                assert services.attempt_delivery(delivery.pk) == "skipped"  # not due yet
                clock.move_to(delivery.next_attempt_at)
                services.attempt_delivery(delivery.pk)
            delivery.refresh_from_db()
            endpoint.refresh_from_db()
    assert waits == wire.RETRY_DELAYS
    assert sum(waits, dt.timedelta()) > dt.timedelta(hours=23)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 8, "HTTP 500")
    assert not endpoint.is_active and "failed deliveries" in endpoint.disabled_reason
    assert len(receiver.requests) == 8
    assert [m.to for m in mail.outbox] == [[tenant_a.owner.email, tenant_a.admin.email]] or \
        sorted(mail.outbox[0].to) == sorted([tenant_a.owner.email, tenant_a.admin.email])
    with tenant_a.scope():
        assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_ENDPOINT_DISABLED).count() == 1


def test_redeliver_sends_the_same_event_again(tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    _register(tenant_a, admin, receiver.url)
    receiver.fail_next(status=503)
    _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    with tenant_a.scope():
        delivery = WebhookDelivery.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            services.redeliver(actor=admin, delivery_id=delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 2 and len(ids) == 1


def test_a_rotated_secret_overlaps_with_the_old_one(tenant_a, admin, receiver,
                                                   django_capture_on_commit_callbacks):
    endpoint, old = _register(tenant_a, admin, receiver.url)
    with tenant_a.scope():
        new = services.rotate_secret(actor=admin, endpoint_id=endpoint.pk)
    _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    request = receiver.last_request
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
        later = receiver.last_request
        assert len(later.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(later.body, later.headers)


def test_redirects_are_not_followed(tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    _register(tenant_a, admin, receiver.url)
    _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    with tenant_a.scope():
        delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("pending", 302, "HTTP 302")
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1",
                                     "fe80::1", "0.0.0.0", "224.0.0.1", "100.64.0.1"])  # noqa: S104
def test_private_loopback_and_link_local_targets_are_refused(settings, monkeypatch, address):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    monkeypatch.setattr(wire.socket, "getaddrinfo", lambda *a, **k: [(None, None, None, "", (address, 443))])
    with pytest.raises(wire.RefusedTarget):
        wire.resolve_target("https://partner.example/hook")
    attempt = wire.post("https://partner.example/hook", {}, "{}")
    assert not attempt.ok and attempt.error.startswith("refused")


def test_loopback_is_refused_outside_development(settings, receiver):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(wire.RefusedTarget):
        wire.resolve_target(receiver.url.replace("http://", "https://"))
    with pytest.raises(wire.RefusedTarget, match="https"):
        wire.resolve_target(receiver.url)


def test_the_connection_goes_to_the_checked_address(settings, monkeypatch, receiver):
    """DNS rebinding: the first answer is checked and connected to; a later, different answer
    for the same name (here a cloud metadata address) is never used."""
    real = wire.socket.getaddrinfo
    lookups = []

    def rebinding_dns(host, *args, **kwargs):
        if host != "partner.example":
            return real(host, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(None, None, None, "", (address, receiver.port))]

    monkeypatch.setattr(wire.socket, "getaddrinfo", rebinding_dns)
    attempt = wire.post(f"http://partner.example:{receiver.port}/hooks", {"content-type": "application/json"},
                        "{}")
    assert attempt.ok and receiver.last_request.headers["host"].startswith("partner.example")
    assert lookups == ["partner.example"]


def test_only_admins_register_endpoints_and_only_known_events(tenant_a):
    from django.core.exceptions import PermissionDenied, ValidationError

    with tenant_a.scope():
        with pytest.raises(PermissionDenied):
            services.create_endpoint(actor=actor_for(tenant_a.staff, tenant_a.org),
                                     url="https://x.example/h", event_types=["message.received"])
        with pytest.raises(ValidationError):
            services.create_endpoint(actor=actor_for(tenant_a.owner, tenant_a.org),
                                     url="https://x.example/h", event_types=["everything"])


def test_another_organisations_endpoints_are_not_reachable(tenant_a, tenant_b, receiver):
    endpoint, _ = _register(tenant_a, actor_for(tenant_a.owner, tenant_a.org), receiver.url)
    with tenant_b.scope(), pytest.raises(WebhookEndpoint.DoesNotExist):
        services.rotate_secret(actor=actor_for(tenant_b.owner, tenant_b.org), endpoint_id=endpoint.pk)


def test_the_payload_at_rest_is_encrypted(tenant_a, admin, receiver, django_capture_on_commit_callbacks):
    from django.db import connection

    _register(tenant_a, admin, receiver.url, include_phi=True)
    _emit(tenant_a, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload, last_response_excerpt FROM accounts_webhookdelivery")
        raw = json.dumps(cursor.fetchall())
    assert "Chest" not in raw and "okxxx" not in raw
