"""The product announces its events to partner endpoints: an inbound message, a delivery
status, an opt-out — each once, however often the provider repeats itself."""

from __future__ import annotations

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.actor import actor_for
from accounts.event_webhooks import services
from accounts.event_webhooks.models import WebhookDelivery
from contacts.services import create_contact
from messaging.models import Message
from messaging.providers import InboundMessage, MessageStatus, StatusUpdate
from messaging.services.inbound import receive_inbound
from messaging.services.statuses import apply_status_update
from tests.factories import system_actor
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.messaging.backend_helpers import PATIENT, make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with WebhookReceiver() as fake:
        yield fake


def _subscribe(tenant, url, events, include_phi=True):
    with tenant.scope():
        return services.create_endpoint(actor=actor_for(tenant.owner, tenant.org), url=url,
                                        event_types=events, include_phi=include_phi)[1]


def test_an_inbound_message_is_announced_once(tenant_a, receiver, django_capture_on_commit_callbacks):
    secret = _subscribe(tenant_a, receiver.url, ["message.received"])
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        with django_capture_on_commit_callbacks(execute=True):
            message = receive_inbound(channel, InboundMessage(
                provider_message_id="sim-1", from_address=PATIENT, to_address=channel.address,
                body="Can I move my appointment?", received_at=timezone.now()))
        from messaging.partner_events import announce_received

        with django_capture_on_commit_callbacks(execute=True):
            announce_received(message)  # a re-delivered inbound task
    assert len(receiver.requests) == 1
    event = Webhook(secret).verify(receiver.last_request.body, receiver.last_request.headers)
    assert event["type"] == "message.received"
    assert event["data"]["message_id"] == message.pk and event["data"]["body"] == "Can I move my appointment?"


def test_a_delivery_status_is_announced_once_per_status(tenant_a, receiver,
                                                        django_capture_on_commit_callbacks):
    _subscribe(tenant_a, receiver.url, ["message.status"], include_phi=False)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone=PATIENT)
        sent = Message.objects.create(organization=tenant_a.org, channel=channel, contact=contact,
                                      direction="outbound", origin="staff", body="hi", status="sent",
                                      provider_message_id="SM00000000000000000000000000000009")
        for key in ("a", "b"):  # the provider repeats the receipt under another key
            with django_capture_on_commit_callbacks(execute=True):
                apply_status_update(channel, StatusUpdate(
                    provider_message_id=sent.provider_message_id, status=MessageStatus.DELIVERED,
                    raw_status="delivered", dedupe_key=f"SM9:delivered:{key}"))
    assert len(receiver.requests) == 1
    body = receiver.last_request.json
    assert body["data"] == {"message_id": sent.pk, "conversation_id": None, "contact_id": contact.pk,
                            "channel_id": channel.pk, "status": "delivered", "error_code": None}


def test_an_opt_out_is_announced(tenant_a, receiver, django_capture_on_commit_callbacks):
    from contacts.services import set_consent

    _subscribe(tenant_a, receiver.url, ["contact.opted_out"], include_phi=False)
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone=PATIENT)
        with django_capture_on_commit_callbacks(execute=True):
            set_consent(actor=system_actor(contact), contact=contact, channel="sms", opted_in=False,
                        source="keyword:STOP")
    assert receiver.last_request.json["data"] == {"contact_id": contact.pk, "channel": "sms",
                                                  "source": "keyword:STOP"}


def test_organisations_without_endpoints_pay_one_cached_lookup(tenant_a, django_assert_num_queries):
    from accounts.event_webhooks.events import emit

    with tenant_a.scope():
        emit(organization_id=tenant_a.org.pk, event_type="message.status", data={})
        with django_assert_num_queries(0):
            for _ in range(5):
                assert emit(organization_id=tenant_a.org.pk, event_type="message.status", data={}) == 0
        assert WebhookDelivery.objects.count() == 0


def test_a_finished_questionnaire_is_announced_with_ids_and_no_answers(tenant_a, receiver):
    from tests.intake.helpers import Patient, build

    secret = _subscribe(tenant_a, receiver.url, ["intake.completed"])
    build(tenant_a, [{"key": "first_name", "kind": "text", "prompt": "First name?"},
                     {"key": "city", "kind": "text", "prompt": "City?"}])
    patient = Patient(tenant_a)
    for text in ("INTAKE", "Ada", "Springfield"):
        patient.send(text)
    assert len(receiver.requests) == 1
    event = Webhook(secret).verify(receiver.last_request.body, receiver.last_request.headers)
    data = event["data"]
    assert event["type"] == "intake.completed" and data["answers"] == 2 and data["version"] == 1
    body = receiver.last_request.body.decode()
    assert "Ada" not in body and "Springfield" not in body
    from campaigns.intake.models import Submission

    with tenant_a.scope():
        submission = Submission.objects.get()
    assert (data["submission_id"], data["contact_id"]) == (submission.pk, submission.contact_id)
