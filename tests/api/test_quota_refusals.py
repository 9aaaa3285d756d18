"""The plan refusing a partner's send: a 402 in the one error shape with billing's numbers
(needed / included / used / remaining in details), nothing stored, metered or sent."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from billing.models import Subscription
from billing.services import record_outbound_many
from contacts.services import create_contact, set_consent
from messaging.models import Conversation, Message
from tests.api.conftest import client_with, make_key, whatsapp_thread
from tests.billing.conftest import put_on_plan
from tests.factories import system_actor
from tests.messaging.backend_helpers import PATIENT, make_channel

pytestmark = pytest.mark.django_db


def _exhausted_trial(tenant) -> None:
    """Growth on trial (the API and WhatsApp, no overage): its 10,000 segments used up."""
    put_on_plan(tenant.org, "growth", status=Subscription.Status.TRIAL,
                trial_ends_at=timezone.now() + datetime.timedelta(days=10))
    record_outbound_many(organization_id=tenant.org.pk,
                         rows=[{"channel_kind": "sms", "origin": "staff", "segments": 10_000}])


def _thread(tenant) -> Conversation:
    with tenant.scope():
        channel = make_channel(tenant.org, "simulator")
        contact = create_contact(actor=system_actor(tenant.org), organization=tenant.org, phone=PATIENT)
        return Conversation.objects.create(organization=tenant.org, channel=channel, contact=contact,
                                           last_inbound_at=timezone.now())


def _assert_402_with_the_numbers(response) -> None:
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert error["code"] == "segments_exhausted" and error["field"] is None
    assert "only 0 of your 10,000 included segments are left" in error["message"]
    (numbers,) = error["details"]
    assert (numbers["code"], numbers["message"]) == (error["code"], error["message"])
    assert (numbers["needed"], numbers["included"], numbers["used"], numbers["remaining"]) == (1, 10_000,
                                                                                                10_000, 0)


def test_a_reply_over_the_plan_is_a_402_with_the_numbers_and_nothing_is_sent(
        tenant_a, django_capture_on_commit_callbacks):
    thread = _thread(tenant_a)
    _exhausted_trial(tenant_a)
    api = client_with(make_key(tenant_a, ["messages:write"]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(f"/api/v1/conversations/{thread.pk}/reply", {"body": "Your results are ready"},
                            format="json", HTTP_IDEMPOTENCY_KEY="q-1")
    _assert_402_with_the_numbers(response)
    assert not [c for c in callbacks if "hand_off" in repr(c)]  # nothing handed to dispatch
    with tenant_a.scope():
        assert not Message.objects.filter(direction="outbound").exists()


def test_a_template_over_the_plan_is_a_402_with_the_numbers(tenant_a):
    thread, template = whatsapp_thread(tenant_a, PATIENT, last_inbound_at=timezone.now())
    _exhausted_trial(tenant_a)
    response = client_with(make_key(tenant_a, ["messages:write"])).post(
        f"/api/v1/conversations/{thread.pk}/template", {"template": template.pk, "parameters": ["Ada"]},
        format="json")
    _assert_402_with_the_numbers(response)
    with tenant_a.scope():
        assert not Message.objects.filter(direction="outbound").exists()


def test_other_refusals_stay_422_without_numbers(tenant_a):
    thread = _thread(tenant_a)
    _exhausted_trial(tenant_a)
    with tenant_a.scope():
        set_consent(actor=system_actor(thread.contact), contact=thread.contact, channel="sms",
                    opted_in=False, source="keyword:STOP")
    response = client_with(make_key(tenant_a, ["messages:write"])).post(
        f"/api/v1/conversations/{thread.pk}/reply", {"body": "Hello"}, format="json")
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["code"] == "opted_out" and "needed" not in detail
