"""draft → scheduled → running ⇄ paused → completed / cancelled; billing asked before it starts."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from accounts.actor import Actor
from campaigns import selectors, tasks
from campaigns.errors import CampaignRefused, IllegalTransition
from campaigns.models import CampaignRecipient
from campaigns.services import lifecycle
from campaigns.services.campaigns import update_campaign
from campaigns.services.templates import save_variant, update_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(make_campaign, make_contact, admin_actor, django_capture_on_commit_callbacks):
    def start(**values):
        for _ in range(3):
            make_contact()
        campaign = make_campaign(**values)
        with django_capture_on_commit_callbacks(execute=True):
            lifecycle.start_campaign(actor=admin_actor, campaign=campaign)
        campaign.refresh_from_db()
        return campaign

    return start


def test_send_now_schedules_starts_and_fans_out(started, billing_contract):
    campaign = started()
    assert campaign.state == "running"
    assert campaign.started_at is not None and campaign.fanout_done
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 3
    assert billing_contract.checks == [(campaign.organization_id, 3)]


def test_the_whole_life_of_a_campaign(started, admin_actor):
    campaign = started()
    lifecycle.pause_campaign(actor=admin_actor, campaign=campaign)
    assert (campaign.state, campaign.pause_reason) == ("paused", "staff")
    lifecycle.resume_campaign(actor=admin_actor, campaign=campaign)
    assert (campaign.state, campaign.pause_reason) == ("running", "")
    assert not lifecycle.complete_if_finished(actor=admin_actor, campaign=campaign)  # three still pending
    CampaignRecipient.objects.filter(campaign=campaign).update(state="delivered")
    assert lifecycle.complete_if_finished(actor=admin_actor, campaign=campaign)
    assert campaign.state == "completed" and campaign.finished_at is not None


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("pause_campaign", "The campaign is draft: it cannot be paused. Schedule it or send it now first."),
        ("resume_campaign", "The campaign is draft: it cannot be started or resumed."),
        ("unschedule_campaign", "The campaign is draft: it cannot be moved back to draft."),
    ],
)
def test_illegal_transitions_from_draft_are_refused_with_a_clear_message(
    make_campaign, admin_actor, action, expected
):
    campaign = make_campaign()
    with pytest.raises(IllegalTransition) as info:
        getattr(lifecycle, action)(actor=admin_actor, campaign=campaign)
    assert info.value.message.startswith(expected)
    campaign.refresh_from_db()
    assert campaign.state == "draft"


def test_finished_campaigns_stay_finished(started, admin_actor):
    campaign = started()
    lifecycle.cancel_campaign(actor=admin_actor, campaign=campaign)
    for action in ("pause_campaign", "resume_campaign", "cancel_campaign", "start_campaign"):
        with pytest.raises(IllegalTransition, match="cancelled"):
            getattr(lifecycle, action)(actor=admin_actor, campaign=campaign)


def test_a_stale_copy_cannot_override_a_newer_state(started, admin_actor):
    campaign = started()
    stale = type(campaign).objects.get(pk=campaign.pk)
    lifecycle.cancel_campaign(actor=admin_actor, campaign=campaign)
    with pytest.raises(IllegalTransition, match="The campaign is cancelled"):
        lifecycle.pause_campaign(actor=admin_actor, campaign=stale)


def test_editing_is_refused_once_running(started, admin_actor):
    campaign = started()
    with pytest.raises(CampaignRefused, match="only drafts and scheduled campaigns can be edited"):
        update_campaign(actor=admin_actor, campaign=campaign, name="Renamed")
    with pytest.raises(CampaignRefused, match="cannot change mid-send"):
        save_variant(actor=admin_actor, template=campaign.template, language="en", body="Changed")
    with pytest.raises(CampaignRefused, match="cannot change mid-send"):
        update_template(actor=admin_actor, template=campaign.template, on_missing="blank")


def test_the_kind_is_fixed_at_creation(make_campaign, admin_actor):
    with pytest.raises(CampaignRefused, match="kind is chosen when a campaign is created"):
        update_campaign(actor=admin_actor, campaign=make_campaign(kind="care"), kind="outreach")


def test_pause_and_cancel_reach_the_dispatch_gate_at_once(started, admin_actor):
    campaign = started()
    assert selectors.dispatch_gate(campaign_id=campaign.pk).may_send
    lifecycle.pause_campaign(actor=admin_actor, campaign=campaign)
    assert not selectors.dispatch_gate(campaign_id=campaign.pk).may_send
    lifecycle.resume_campaign(actor=admin_actor, campaign=campaign)
    assert selectors.dispatch_gate(campaign_id=campaign.pk).may_send
    lifecycle.cancel_campaign(actor=admin_actor, campaign=campaign)
    gate = selectors.dispatch_gate(campaign_id=campaign.pk)
    assert (gate.state, gate.may_send) == ("cancelled", False)


def test_a_switched_off_channel_pauses_the_campaign_and_says_why(started, admin_actor, sms_channel):
    campaign = started()
    system = Actor.system("campaign-dispatcher", organization_id=campaign.organization_id)
    assert not lifecycle.pause_if_channel_inactive(actor=system, campaign=campaign)
    type(sms_channel).objects.filter(pk=sms_channel.pk).update(is_active=False)
    assert lifecycle.pause_if_channel_inactive(actor=system, campaign=campaign)
    assert (campaign.state, campaign.pause_reason) == ("paused", "channel_inactive")
    assert "switched off" in lifecycle.PauseReason(campaign.pause_reason).message
    with pytest.raises(CampaignRefused, match="still switched off"):
        lifecycle.resume_campaign(actor=admin_actor, campaign=campaign)
    type(sms_channel).objects.filter(pk=sms_channel.pk).update(is_active=True)
    lifecycle.resume_campaign(actor=admin_actor, campaign=campaign)
    assert campaign.state == "running"


def test_billing_refuses_a_campaign_over_the_plan_with_the_numbers(
    make_campaign, make_contact, admin_actor, billing_contract
):
    for _ in range(3):
        make_contact()
    billing_contract.remaining, billing_contract.included = 2, 500
    campaign = make_campaign()
    with pytest.raises(CampaignRefused) as info:
        lifecycle.start_campaign(actor=admin_actor, campaign=campaign)
    assert info.value.code == "quota_exceeded"
    assert info.value.numbers == {"needed": 3, "included": 500, "remaining": 2}
    assert "needs 3 segments" in info.value.message and "500" in info.value.message
    campaign.refresh_from_db()
    assert campaign.state == "draft"
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_the_plan_double_refuses_with_billings_own_exception_and_leaves_billing_alone(billing_contract):
    """Regression: the double once patched a stand-in onto ``billing.QuotaExceeded``; a module
    first imported during a campaigns test (messaging's channel views) kept the stand-in, and later
    tests saw a plan refusal shown as a form error (200) instead of billing's 402 page."""
    import billing
    import billing.exceptions
    from campaigns.billing_gate import check_campaign_segments

    assert billing.QuotaExceeded is billing.exceptions.QuotaExceeded
    billing_contract.remaining = 0
    with pytest.raises(CampaignRefused) as info:
        check_campaign_segments(organization_id=1, segments=1)
    assert isinstance(info.value.__context__, billing.exceptions.QuotaExceeded)


def test_scheduling_asks_billing_and_refuses_the_past(
    make_campaign, make_contact, admin_actor, billing_contract
):
    make_contact()
    campaign = make_campaign()
    with pytest.raises(CampaignRefused, match="has passed"):
        lifecycle.schedule_campaign(
            actor=admin_actor, campaign=campaign, send_at=timezone.now() - datetime.timedelta(minutes=1)
        )
    lifecycle.schedule_campaign(
        actor=admin_actor, campaign=campaign, send_at=timezone.now() + datetime.timedelta(hours=2)
    )
    assert campaign.state == "scheduled"
    assert billing_contract.checks == [(campaign.organization_id, 1)]
    lifecycle.unschedule_campaign(actor=admin_actor, campaign=campaign)
    assert campaign.state == "draft"


def test_the_beat_sweep_starts_campaigns_whose_time_has_come(
    make_campaign, make_contact, admin_actor, django_capture_on_commit_callbacks
):
    make_contact()
    campaign = make_campaign()
    send_at = timezone.now() + datetime.timedelta(hours=2)
    lifecycle.schedule_campaign(actor=admin_actor, campaign=campaign, send_at=send_at)
    assert tasks.start_due_campaigns() == 0
    with (
        time_machine.travel(send_at + datetime.timedelta(seconds=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.start_due_campaigns() == 1
    campaign.refresh_from_db()
    assert campaign.state == "running" and campaign.fanout_done
    assert (
        tasks.start_scheduled_campaign(org_id=campaign.organization_id, campaign_id=campaign.pk) == "not_due"
    )


def test_an_sms_campaign_needs_a_body_and_a_whatsapp_campaign_an_approved_template(
    make_campaign, make_contact, admin_actor, tenant_a
):
    from messaging.models import Channel, WhatsAppTemplate

    make_contact()
    whatsapp = Channel.objects.create(
        organization=tenant_a.org,
        name="WA",
        provider="whatsapp_cloud",
        kind="whatsapp",
        address="1234567890",
        webhook_secret="x",
    )
    campaign = make_campaign(channel=whatsapp)
    with pytest.raises(CampaignRefused, match="approved template"):
        lifecycle.start_campaign(actor=admin_actor, campaign=campaign)
    approved = WhatsAppTemplate.objects.create(
        organization=tenant_a.org,
        channel=whatsapp,
        name="flu_reminder",
        language="en_US",
        preview="Hi {{1}}, book at {{2}}.",
        parameter_count=2,
    )
    save_variant(
        actor=admin_actor,
        template=campaign.template,
        language="en",
        whatsapp_template=approved,
        whatsapp_parameters=['first_name | "there"', "organisation"],
    )
    counts = selectors.count_audience(actor=admin_actor, campaign=campaign)
    assert counts.eligible == 1 and counts.segments_total == 1
    lifecycle.start_campaign(actor=admin_actor, campaign=campaign)
    assert campaign.state == "running"


def test_a_scheduled_campaign_keeps_a_future_send_time(make_campaign, make_contact, admin_actor):
    make_contact()
    campaign = make_campaign(send_at=timezone.now() - datetime.timedelta(hours=1))
    with pytest.raises(CampaignRefused, match="has passed"):
        lifecycle.schedule_campaign(actor=admin_actor, campaign=campaign)
    update_campaign(actor=admin_actor, campaign=campaign, send_at=timezone.now() + datetime.timedelta(days=1))
    lifecycle.schedule_campaign(actor=admin_actor, campaign=campaign)
    with pytest.raises(CampaignRefused, match="needs a send time in the future"):
        update_campaign(
            actor=admin_actor, campaign=campaign, send_at=timezone.now() - datetime.timedelta(minutes=5)
        )
    update_campaign(actor=admin_actor, campaign=campaign, name="Still editable while scheduled")
    assert campaign.state == "scheduled"


def test_the_cost_label_reads_billings_estimate():
    from campaigns.billing_gate import cost_label

    assert cost_label({"amount": "1.20", "currency": "USD"}) == "1.20 USD"
    assert cost_label(type("Estimate", (), {"amount": "3.00", "currency": "EUR"})()) == "3.00 EUR"
    assert cost_label("about 4 USD") == "about 4 USD"
    assert cost_label(None) == ""


def test_patients_replies_are_listened_for_from_the_start_until_the_reply_window_ends(
        make_campaign, started, admin_actor, tenant_a, settings):
    from campaigns.replies import expects_replies
    from messaging.inbound import has_listeners

    org = tenant_a.org.pk
    make_campaign()  # a draft sends nothing: nobody to hear
    assert not has_listeners(org)
    campaign = started()
    assert has_listeners(org)  # the start itself reported the change: no cache lifetime to wait
    lifecycle.cancel_campaign(actor=admin_actor, campaign=campaign)
    assert has_listeners(org)  # its messages can still be answered
    later = timezone.now() + datetime.timedelta(days=settings.CAMPAIGN_REPLY_WINDOW_DAYS, hours=1)
    with time_machine.travel(later, tick=False):
        assert not expects_replies(org)


def test_a_completed_campaign_is_announced_once_with_its_counts(started, admin_actor, tenant_a,
                                                                django_capture_on_commit_callbacks):
    from accounts.actor import actor_for
    from accounts.event_webhooks import services as endpoints
    from tests.fakes.webhook_receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        endpoints.create_endpoint(actor=actor_for(tenant_a.owner, tenant_a.org), url=receiver.url,
                                  event_types=["campaign.completed"])
        campaign = started()
        CampaignRecipient.objects.filter(campaign=campaign).update(state="delivered")
        with django_capture_on_commit_callbacks(execute=True):
            assert lifecycle.complete_if_finished(actor=admin_actor, campaign=campaign)
        with django_capture_on_commit_callbacks(execute=True):
            assert not lifecycle.complete_if_finished(actor=admin_actor, campaign=campaign)
        assert len(receiver.requests) == 1
        data = receiver.last_request.json["data"]
    assert data == {"campaign_id": campaign.pk, "kind": campaign.kind, "channel_id": campaign.channel_id,
                    "recipients": 3, "by_state": {"delivered": 3}}
