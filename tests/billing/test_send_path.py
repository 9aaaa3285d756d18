"""Billing on the send path and the partner API: every outbound segment metered in the
messages' own transaction, a Free plan's allowance refused with the numbers (never sign-in
codes or keyword replies), and the API answering quota refusals as 402."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_scopes import scopes_disabled

from accounts.actor import Actor
from billing.models import UsageCounter
from contacts.services import create_contact
from messaging.models import Message
from messaging.services.queueing import Content, Outcome, Recipient, queue_messages
from tests.billing.conftest import put_on_plan
from tests.factories import system_actor
from tests.messaging.backend_helpers import make_channel

pytestmark = pytest.mark.django_db


def outbound(org) -> dict[str, tuple[int, int]]:
    with scopes_disabled():
        return {row[0]: (row[1], row[2]) for row in UsageCounter.objects.filter(
            organization=org, direction="outbound").values_list("origin", "segments", "messages")}


def _contacts(tenant, n):
    return [create_contact(actor=system_actor(tenant.org), organization=tenant.org,
                           phone=f"+1415555{1000 + i:04d}") for i in range(n)]


def _queue(tenant, channel, contacts, body, origin="campaign", key="k"):
    actor = Actor.system("campaign-dispatcher", organization_id=tenant.org.pk)
    return queue_messages(actor=actor, channel=channel, origin=origin, content=Content(body=body),
                          recipients=[Recipient(contact_id=c.pk, idempotency_key=f"{key}-{c.pk}")
                                      for c in contacts])


def test_queued_messages_meter_their_segments_once(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contacts = _contacts(tenant_a, 3)
        _queue(tenant_a, channel, contacts, "Your results are ready 😊 " * 3)  # UCS-2, 2 parts each
        again = _queue(tenant_a, channel, contacts, "Your results are ready 😊 " * 3)  # the same keys
    assert {r.outcome for r in again.results} == {Outcome.DUPLICATE}
    assert outbound(tenant_a.org) == {"campaign": (6, 3)}


def test_a_rolled_back_batch_meters_nothing(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contacts = _contacts(tenant_a, 2)
        with pytest.raises(RuntimeError), transaction.atomic():
            _queue(tenant_a, channel, contacts, "Flu shots this week")
            raise RuntimeError("the caller's transaction fails")
        assert not Message.objects.exists()
    assert outbound(tenant_a.org) == {}


def test_a_free_plan_refuses_beyond_its_segments_with_the_numbers_but_codes_still_go(tenant_a):
    put_on_plan(tenant_a.org, "free")  # 100 segments included, no overage
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contacts = _contacts(tenant_a, 9)
        first = _queue(tenant_a, channel, contacts[:2], "x" * 1530)  # 10 segments each: 20 of 100
        big = _queue(tenant_a, channel, contacts, "y" * 1530, key="big")  # 9 x 10 > 80 left
        codes = _queue(tenant_a, channel, contacts, "y" * 1530, origin="otp", key="otp")
    assert [r.outcome for r in first.results] == [Outcome.QUEUED] * 2
    refused = big.results[0]
    assert {r.outcome for r in big.results} == {Outcome.REFUSED}
    assert refused.reason_code == "segments_exhausted"
    assert "needs 90 segments but only 80 of your 100 included segments are left" in refused.reason
    assert {r.outcome for r in codes.results} == {Outcome.QUEUED}
    assert outbound(tenant_a.org) == {"campaign": (20, 2), "otp": (90, 9)}


def test_the_single_send_path_raises_the_refusal_for_staff(tenant_a):
    from messaging.services.outbound import SendRefused, send_system_message

    put_on_plan(tenant_a.org, "free")
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        _queue(tenant_a, channel, _contacts(tenant_a, 9), "x" * 1530)  # 90 of 100 used
        with pytest.raises(SendRefused) as refused:
            send_system_message(channel=channel, to_phone="+14155550199", body="z" * 1600, origin="test",
                                actor=system_actor(tenant_a.org))
    assert refused.value.reason_code == "segments_exhausted"
    assert "needs 11 segments but only 10" in refused.value.message


def test_the_api_answers_a_plan_without_the_api_with_402_and_the_code(tenant_a):
    from tests.api.conftest import client_with, make_key

    put_on_plan(tenant_a.org, "free")
    response = client_with(make_key(tenant_a, ["messages:read"])).get("/api/v1/channels")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "feature_api" and "plan" in error["message"]


def test_the_api_rate_follows_the_plan(tenant_a):
    from billing.models import Plan
    from tests.api.conftest import client_with, make_key

    put_on_plan(tenant_a.org, "growth")
    response = client_with(make_key(tenant_a, ["messages:read"])).get("/api/v1/channels")
    assert response["RateLimit-Limit"] == str(Plan.objects.get(code="growth").api_requests_per_minute)
