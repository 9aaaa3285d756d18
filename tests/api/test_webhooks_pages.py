"""Settings → Webhooks: register, read the delivery log, rotate, switch off, redeliver."""

from __future__ import annotations

import re

import pytest

from accounts.event_webhooks.events import emit
from accounts.event_webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


def _secret(html: str) -> str:
    return re.search(r'value="(whsec_[^"]+)"', html).group(1)


def test_an_admin_registers_an_endpoint_and_reads_its_log(tenant_a, django_capture_on_commit_callbacks):
    web = tenant_a.client_for("admin")
    with WebhookReceiver() as receiver:
        page = web.post("/org/webhooks/", {"url": receiver.url, "event_types": ["message.received"],
                                           "description": "EHR"})
        assert page.status_code == 200 and _secret(page.content.decode())
        with tenant_a.scope():
            endpoint = WebhookEndpoint.objects.get()
            with django_capture_on_commit_callbacks(execute=True):
                emit(organization_id=tenant_a.org.pk, event_type="message.received", data={"message_id": 1})
        log = web.get(f"/org/webhooks/{endpoint.pk}/").content.decode()
        assert "message.received" in log and "Delivered" in log
        assert len(receiver.requests) == 1
        with tenant_a.scope():
            delivery = WebhookDelivery.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            web.post(f"/org/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")
        assert len(receiver.requests) == 2


def test_rotation_shows_the_new_secret_once_and_switching_off_stops_deliveries(tenant_a):
    web = tenant_a.client_for("owner")
    web.post("/org/webhooks/", {"url": "https://partner.example/hook", "event_types": ["message.status"]})
    with tenant_a.scope():
        endpoint = WebhookEndpoint.objects.get()
    rotated = web.post(f"/org/webhooks/{endpoint.pk}/rotate/").content.decode()
    with tenant_a.scope():
        endpoint.refresh_from_db()
    assert _secret(rotated) == endpoint.secret and endpoint.previous_secret
    assert endpoint.secret not in web.get(f"/org/webhooks/{endpoint.pk}/").content.decode()
    web.post(f"/org/webhooks/{endpoint.pk}/toggle/")
    with tenant_a.scope():
        assert emit(organization_id=tenant_a.org.pk, event_type="message.status", data={}) == 0


def test_a_plain_http_or_malformed_url_is_refused_with_a_reason(tenant_a, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    response = tenant_a.client_for("owner").post("/org/webhooks/", {"url": "http://partner.example/h",
                                                                    "event_types": ["message.status"]})
    assert response.status_code == 400 and "https://" in response.content.decode()


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_cannot_manage_webhooks(tenant_a, role):
    assert tenant_a.client_for(role).get("/org/webhooks/").status_code == 403


def test_another_organisations_endpoint_is_404(tenant_a, tenant_b):
    tenant_a.client_for("owner").post("/org/webhooks/", {"url": "https://a.example/h",
                                                         "event_types": ["message.status"]})
    with tenant_a.scope():
        endpoint = WebhookEndpoint.objects.get()
    web_b = tenant_b.client_for("owner")
    assert web_b.get(f"/org/webhooks/{endpoint.pk}/").status_code == 404
    assert web_b.post(f"/org/webhooks/{endpoint.pk}/rotate/").status_code == 404
