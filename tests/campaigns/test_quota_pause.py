"""The plan running out mid-campaign: the campaign pauses itself with the numbers, its unsent
recipients stay pending (never skipped), and after an upgrade and a resume each is sent once.

Messaging's send path asks the real billing (the campaigns' double stands in only for the
campaign's own pre-start check, on ``billing.services``): the refusal seen here is billing's.
"""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
import time_machine

from billing.services import quotas, record_outbound_many
from campaigns.dispatching import dispatcher_actor, run_dispatch
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services import lifecycle
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from messaging.services import queueing
from messaging.services.dispatch import deliver_message
from tests.billing.conftest import put_on_plan

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=datetime.UTC)  # 13:00 for +1 415 patients


@pytest.fixture(autouse=True)
def _real_billing_on_the_send_path(monkeypatch, sms_channel):
    # Whatever a module-import order did, messaging's check is billing's own here.
    monkeypatch.setattr(queueing, "check_segments", quotas.check_segments)
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    get_rate_limiter().reset(sms_channel.pk)


def _dispatch(campaign, capture):
    with capture(execute=True):
        return run_dispatch(actor=dispatcher_actor(campaign.organization_id), campaign_id=campaign.pk)


@time_machine.travel(NOON, tick=False)
def test_a_plan_spent_mid_campaign_pauses_it_and_the_rest_go_after_an_upgrade(
        tenant_a, make_campaign, make_contact, admin_actor, settings, django_capture_on_commit_callbacks):
    settings.CAMPAIGN_DISPATCH_CHUNK_SIZE = 2
    patients = [make_contact() for _ in range(5)]
    put_on_plan(tenant_a.org, "free")  # 100 segments, no overage
    record_outbound_many(organization_id=tenant_a.org.pk,
                         rows=[{"channel_kind": "sms", "origin": "staff", "segments": 97}])
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
    fan_out(actor=dispatcher_actor(tenant_a.org.pk), campaign_id=campaign.pk)

    result = _dispatch(campaign, django_capture_on_commit_callbacks)

    # The first chunk (2 segments) fitted; the second (2 more, 1 left) was refused by the plan.
    assert (result.outcome, result.queued) == ("stopped", 2)
    campaign.refresh_from_db()
    assert (campaign.state, campaign.pause_reason) == ("paused", "quota")
    assert campaign.pause_detail == {"code": "segments_exhausted", "needed": 3, "included": 100,
                                     "used": 99, "remaining": 1}
    message = lifecycle.pause_message(campaign)
    assert "needs 3 segments; the plan includes 100 and 1 remain" in message and "Upgrade" in message
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert Counter(rows.values_list("state", flat=True)) == {"queued": 2, "pending": 3}
    assert not rows.exclude(skip_reason="").exists()
    assert Message.objects.filter(origin="campaign").count() == 2

    put_on_plan(tenant_a.org, "starter")  # paid: beyond its allowance it sends as overage
    with django_capture_on_commit_callbacks(execute=True):  # the resume's dispatcher task
        lifecycle.resume_campaign(actor=admin_actor, campaign=campaign)
    with time_machine.travel(NOON + datetime.timedelta(minutes=1), tick=False):
        # Messages handed to messaging before the pause may have been held while it lasted: their
        # scheduled look comes now (the campaign runs again), then the dispatcher completes it.
        for pk in Message.objects.filter(origin="campaign", status="queued").values_list("pk", flat=True):
            deliver_message(pk)
        _dispatch(campaign, django_capture_on_commit_callbacks)

    campaign.refresh_from_db()
    assert (campaign.state, campaign.pause_reason, campaign.pause_detail) == ("completed", "", {})
    assert set(rows.values_list("state", flat=True)) == {"sent"}
    sent = Counter(Message.objects.filter(origin="campaign").values_list("contact_id", flat=True))
    assert sent == {p.pk: 1 for p in patients}


@time_machine.travel(NOON, tick=False)
def test_a_plan_spent_before_the_first_chunk_sends_nothing_and_skips_nobody(
        tenant_a, make_campaign, make_contact, django_capture_on_commit_callbacks):
    for _ in range(2):
        make_contact()
    put_on_plan(tenant_a.org, "free")
    record_outbound_many(organization_id=tenant_a.org.pk,
                         rows=[{"channel_kind": "sms", "origin": "staff", "segments": 100}])
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
    fan_out(actor=dispatcher_actor(tenant_a.org.pk), campaign_id=campaign.pk)
    assert _dispatch(campaign, django_capture_on_commit_callbacks).queued == 0
    campaign.refresh_from_db()
    assert (campaign.state, campaign.pause_reason) == ("paused", "quota")
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("state", flat=True)) == {
        "pending"}
    assert not Message.objects.filter(origin="campaign").exists()
