"""Sending through the partner API: a reply and a WhatsApp template, idempotent on the key,
refusals as 422 with their reason, metered as origin "api"."""

from __future__ import annotations

import pytest
from django.utils import timezone

from contacts.services import create_contact
from messaging.models import Conversation, Message
from tests.api.conftest import client_with, make_key, whatsapp_thread
from tests.factories import system_actor
from tests.messaging.backend_helpers import PATIENT, make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone=PATIENT)
        return Conversation.objects.create(organization=tenant_a.org, channel=channel, contact=contact,
                                           last_inbound_at=timezone.now())


def test_a_reply_is_sent_once_however_often_the_partner_retries(tenant_a, thread,
                                                                django_capture_on_commit_callbacks):
    api = client_with(make_key(tenant_a, ["messages:write", "messages:read"]))
    path = f"/api/v1/conversations/{thread.pk}/reply"
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(path, {"body": "Your results are ready"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
        again = api.post(path, {"body": "Your results are ready"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    with tenant_a.scope():
        sent = Message.objects.filter(direction="outbound")
        assert sent.count() == 1
        assert (sent.get().origin, sent.get().body) == ("api", "Your results are ready")


def test_a_refused_send_is_a_422_with_its_reason_code(tenant_a, thread):
    from contacts.services import set_consent

    with tenant_a.scope():
        set_consent(actor=system_actor(thread.contact), contact=thread.contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
    response = client_with(make_key(tenant_a, ["messages:write"])).post(
        f"/api/v1/conversations/{thread.pk}/reply", {"body": "Hello"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "opted_out"


def test_a_read_key_cannot_send(tenant_a, thread):
    response = client_with(make_key(tenant_a, ["messages:read"])).post(
        f"/api/v1/conversations/{thread.pk}/reply", {"body": "Hello"}, format="json")
    assert response.status_code == 403


def test_a_template_goes_out_with_its_parameters(tenant_a):
    thread, template = whatsapp_thread(tenant_a, PATIENT)
    api = client_with(make_key(tenant_a, ["messages:write"]))
    response = api.post(f"/api/v1/conversations/{thread.pk}/template",
                        {"template": template.pk, "parameters": ["Ada"]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["template_name"] == "results_ready"
    wrong = api.post(f"/api/v1/conversations/{thread.pk}/template",
                     {"template": template.pk, "parameters": []},
                     format="json")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "template_parameters"
