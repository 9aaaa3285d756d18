"""A campaign message already handed to messaging is looked at again just before it is sent
(campaigns/send_gate.py through messaging/outbound_gates.py): cancelled → withdrawn, paused →
held until resumed, the patient's window closed (a retry that ran into the night) → held until
their morning, then sent once."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from campaigns.dispatching import dispatcher_actor, run_dispatch
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from campaigns.send_gate import PAUSED_RECHECK
from campaigns.services.lifecycle import cancel_campaign, pause_campaign, resume_campaign
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from messaging.services.dispatch import deliver_message, deliver_messages
from messaging.tasks import requeue_stalled_messages

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=UTC)  # 13:00 in California
NIGHT = datetime.datetime(2026, 6, 11, 5, 30, tzinfo=UTC)  # 22:30 in California
MORNING = datetime.datetime(2026, 6, 11, 15, 0, tzinfo=UTC)  # 08:00 in California (the window opens)


@pytest.fixture(autouse=True)
def _fast_channel(sms_channel):
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    sms_channel.refresh_from_db()
    get_rate_limiter().reset(sms_channel.pk)


@pytest.fixture
def handed_over(make_campaign, make_contact, django_capture_on_commit_callbacks):
    """A running campaign whose messages messaging has stored, queued, but not yet sent (their
    hand-off tasks never ran: a provider outage, a busy channel)."""

    def make(count: int = 2):
        for _ in range(count):
            make_contact(timezone="America/Los_Angeles")
        campaign = make_campaign()
        Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
        actor = dispatcher_actor(campaign.organization_id)
        fan_out(actor=actor, campaign_id=campaign.pk)
        with django_capture_on_commit_callbacks(execute=False):
            assert run_dispatch(actor=actor, campaign_id=campaign.pk).queued == count
        campaign.refresh_from_db()
        ids = sorted(Message.objects.filter(origin="campaign").values_list("pk", flat=True))
        assert Message.objects.filter(pk__in=ids, status="queued").count() == count
        return campaign, ids

    return make


def outcomes(delivery) -> dict[str, int]:
    return {name: n for name, n in delivery.outcomes.items() if n}


def statuses(ids) -> list[str]:
    return list(Message.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))


def test_a_send_that_ran_into_the_patients_night_waits_for_their_morning_then_goes_once(
        handed_over, sms_channel):
    with time_machine.travel(NOON, tick=False):
        _campaign, ids = handed_over()
    with time_machine.travel(NIGHT, tick=False):  # the provider was down until now
        delivery = deliver_messages(sms_channel, ids)
        assert outcomes(delivery) == {"held": 2} and delivery.later == {}  # beyond the horizon
        assert statuses(ids) == ["queued", "queued"]
        held = Message.objects.get(pk=ids[0])
        assert held.lease_expires_at == MORNING and held.provider_message_id == ""
        assert deliver_message(ids[0]).outcome == "held"  # the single-message path asks too
        assert requeue_stalled_messages() == 0  # the lease holds them through the night
    with time_machine.travel(MORNING + datetime.timedelta(minutes=1), tick=False):
        assert requeue_stalled_messages() == 2  # the sweep hands them on (eager: sent here)
        assert statuses(ids) == ["sent", "sent"]
        assert deliver_message(ids[0]).outcome == "skipped"  # sent once


def test_a_paused_campaigns_queued_messages_wait_and_go_after_the_resume(
        handed_over, sms_channel, admin_actor, django_capture_on_commit_callbacks):
    with time_machine.travel(NOON, tick=False):
        campaign, ids = handed_over()
        pause_campaign(actor=admin_actor, campaign=campaign)
        delivery = deliver_messages(sms_channel, ids)
        assert outcomes(delivery) == {"held": 2}
        assert set(delivery.later) == set(ids)  # looked at again shortly, by their own tasks
        assert all(wait == pytest.approx(PAUSED_RECHECK.total_seconds()) for wait in delivery.later.values())
        assert statuses(ids) == ["queued", "queued"]
        campaign.refresh_from_db()
    with time_machine.travel(NOON + datetime.timedelta(seconds=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):  # the resume hands them back at once
            resume_campaign(actor=admin_actor, campaign=campaign)
        assert statuses(ids) == ["sent", "sent"]


def test_a_cancelled_campaigns_queued_messages_are_withdrawn_not_sent(handed_over, sms_channel, admin_actor):
    with time_machine.travel(NOON, tick=False):
        campaign, ids = handed_over()
        cancel_campaign(actor=admin_actor, campaign=campaign)
        assert outcomes(deliver_messages(sms_channel, ids[:1])) == {"failed": 1}
        assert deliver_message(ids[1]).outcome == "failed"
        messages = Message.objects.filter(pk__in=ids)
        assert {(m.status, m.error_code, m.provider_message_id) for m in messages} == {
            ("failed", "campaign_cancelled", "")}
        assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("state", flat=True)) == {
            "failed"}


def test_messages_of_other_origins_and_running_campaigns_in_the_day_are_not_held(handed_over, sms_channel):
    with time_machine.travel(NOON, tick=False):
        _campaign, ids = handed_over(count=1)
        assert outcomes(deliver_messages(sms_channel, ids)) == {"sent": 1}


def test_an_interrupted_send_of_a_paused_campaign_is_reconciled_then_held_and_scheduled_again(
        handed_over, sms_channel, admin_actor):
    """Found "sending" (a worker died mid-batch): asked of the provider first; not sent, it is held
    like the rest and its task scheduled for the re-check (not left to the lease sweep)."""
    with time_machine.travel(NOON, tick=False):
        campaign, ids = handed_over(count=1)
        Message.objects.filter(pk=ids[0]).update(status="sending", attempts=1)
        pause_campaign(actor=admin_actor, campaign=campaign)
        delivery = deliver_messages(sms_channel, ids)
        assert outcomes(delivery) == {"held": 1}
        assert delivery.later == {ids[0]: pytest.approx(PAUSED_RECHECK.total_seconds())}
        assert statuses(ids) == ["queued"]
