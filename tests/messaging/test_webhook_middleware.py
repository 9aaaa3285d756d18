"""Provider webhooks bypass the browser middleware (messaging/webhook_middleware.py) and keep
what still matters for them: the audit request context, the signature check, plain 404s."""

from __future__ import annotations

import uuid

from django.test import Client
from django_scopes import scope

from audit.models import AuditEvent
from messaging.models import Message
from tests.fakes.payloads import twilio_inbound_sms
from tests.messaging.backend_helpers import PATIENT, make_channel, post_twilio


def test_a_webhook_is_stored_and_audited_with_its_request_id_and_no_browser_state(tenant_a):
    with scope(organization=tenant_a.org):
        channel = make_channel(tenant_a.org, "twilio")
    response = post_twilio(channel, twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="Hello"))
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    # No session, CSRF or flash-message cookies; no page policies on a machine's answer.
    assert not response.cookies
    assert "Content-Security-Policy" not in response and "X-Frame-Options" not in response
    with scope(organization=tenant_a.org):
        message = Message.objects.get(channel=channel)
        event = AuditEvent.objects.get(target_type="messaging.message", target_id=str(message.pk))
    assert event.request_id == request_id and event.ip == "127.0.0.1"


def test_a_forged_webhook_is_still_refused(tenant_a):
    with scope(organization=tenant_a.org):
        channel = make_channel(tenant_a.org, "twilio")
    response = post_twilio(channel, twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="Hi"),
                           token="not-the-channel-token")
    assert response.status_code == 403
    with scope(organization=tenant_a.org):
        assert not Message.objects.filter(channel=channel).exists()


def test_unknown_webhook_paths_get_the_sites_own_404(db):
    client = Client()
    for path in (f"/webhooks/twilio/{uuid.uuid4()}/", "/webhooks/not-a-url-at-all"):
        assert client.post(path, data=b"", content_type="text/plain").status_code == 404


def test_pages_still_get_the_browser_policies(client, db):
    response = client.get("/login/")
    assert "Content-Security-Policy" in response and response["X-Frame-Options"] == "DENY"
