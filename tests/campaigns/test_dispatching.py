"""The dispatcher: due recipients in chunks through messaging's batch path, exactly once, until done."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import dispatching, sending
from campaigns.dispatching import dispatcher_actor, run_dispatch, send_chunk, sync_recipient_states
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.lifecycle import pause_campaign, start_campaign
from contacts.services import set_consent
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from tests.factories import system_actor

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=UTC)  # 13:00 in California (+1 415 patients)


@pytest.fixture(autouse=True)
def _fast_channel(sms_channel):
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    sms_channel.refresh_from_db()
    get_rate_limiter().reset(sms_channel.pk)


def running(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
    fan_out(actor=dispatcher_actor(campaign.organization_id), campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def dispatch(campaign, capture, **options):
    """One dispatcher run; messaging's hand-offs (on commit) send the queued messages after it."""
    with capture(execute=True):
        return run_dispatch(actor=dispatcher_actor(campaign.organization_id), campaign_id=campaign.pk,
                            **options)


def states(campaign) -> dict[int, str]:
    return dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("contact_id", "state"))


@time_machine.travel(NOON, tick=False)
def test_every_due_recipient_gets_one_personalised_message_and_the_campaign_completes(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    contacts = [make_contact(first_name=name) for name in ("Ada", "Grace", "Alan")]
    campaign = running(make_campaign())
    first = dispatch(campaign, django_capture_on_commit_callbacks)
    assert first.queued == 3 and first.outcome == "watching"
    messages = Message.objects.filter(origin="campaign").order_by("contact_id")
    assert [m.contact_id for m in messages] == [c.pk for c in contacts]
    assert {m.body for m in messages} == {f"Hi {n}, your flu shot is due at Org A Clinic."
                                          for n in ("Ada", "Grace", "Alan")}
    assert all(m.status == "sent" and m.idempotency_key.startswith(f"campaign-{campaign.pk}-")
               for m in messages)
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert {r.message_id for r in recipients} == {m.pk for m in messages}
    second = dispatch(campaign, django_capture_on_commit_callbacks)
    assert second.outcome == "completed" and second.queued == 0
    assert set(states(campaign).values()) == {"sent"}
    campaign.refresh_from_db()
    assert campaign.state == "completed" and campaign.finished_at
    assert Message.objects.filter(origin="campaign").count() == 3


def chunk_of(make_campaign, make_contact, size: int):
    """A running campaign of ``size`` patients, its dispatcher and its first chunk's recipients."""
    for _ in range(size):
        make_contact()
    campaign = running(make_campaign())
    actor = dispatcher_actor(campaign.organization_id)
    return campaign, actor, sending.due_recipients(actor=actor, campaign=campaign, now=NOON)


@time_machine.travel(NOON, tick=False)
def test_a_chunk_run_again_after_a_crash_queues_nothing_twice(make_campaign, make_contact):
    campaign, actor, rows = chunk_of(make_campaign, make_contact, 4)
    assert send_chunk(actor=actor, campaign=campaign, recipients=rows, now=NOON) == 4
    first_ids = set(Message.objects.values_list("pk", flat=True))
    # The worker died after queue_messages committed but before the recipients were marked queued.
    CampaignRecipient.objects.filter(campaign=campaign).update(state="pending", message=None)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    assert send_chunk(actor=actor, campaign=campaign, recipients=rows, now=NOON) == 4
    assert set(Message.objects.values_list("pk", flat=True)) == first_ids
    assert set(CampaignRecipient.objects.values_list("message_id", flat=True)) == first_ids


@time_machine.travel(NOON, tick=False)
def test_database_work_per_chunk_does_not_grow_with_the_chunk(make_campaign, make_contact):
    for _ in range(30):
        make_contact()
    campaign = running(make_campaign())
    actor = dispatcher_actor(campaign.organization_id)
    counts = []
    for size in (3, 5, 20):  # the first chunk also warms per-process caches (the org's keys)
        rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON, limit=size)
        with CaptureQueriesContext(connection) as queries:
            send_chunk(actor=actor, campaign=campaign, recipients=rows, now=NOON)
        counts.append(len(queries))
    assert counts[1] == counts[2], counts


@time_machine.travel(NOON, tick=False)
def test_a_chunk_reads_its_patients_once_and_not_their_email_or_birth_date(make_campaign, make_contact):
    campaign, actor, rows = chunk_of(make_campaign, make_contact, 5)
    with CaptureQueriesContext(connection) as queries:
        assert send_chunk(actor=actor, campaign=campaign, recipients=rows, now=NOON) == 5
    reads = [q["sql"] for q in queries
             if q["sql"].startswith("SELECT") and 'FROM "contacts_contact"' in q["sql"]]
    assert len(reads) == 1, reads  # rendered, consent-checked and addressed from the same rows
    assert '"contacts_contact"."email"' not in reads[0] and '"date_of_birth"' not in reads[0]
    assert set(Message.objects.values_list("contact_id", flat=True)) == {r.contact_id for r in rows}


@time_machine.travel(NOON, tick=False)
def test_a_chunk_decrypts_only_the_fields_its_template_renders(make_campaign, make_contact, make_template,
                                                               tenant_a):
    from contacts.custom_fields import define_custom_field

    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org, label="Clinic",
                        field_type="text", key="clinic")
    for n in range(3):
        make_contact(first_name="Ada", last_name="Lovelace", custom_values={"clinic": f"North {n}"})
    campaign = running(make_campaign(template=make_template("Your flu shot is due at {{ organisation }}.")))
    actor = dispatcher_actor(campaign.organization_id)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    with CaptureQueriesContext(connection) as queries:
        assert send_chunk(actor=actor, campaign=campaign, recipients=rows, now=NOON) == 3
    [read] = [q["sql"] for q in queries
              if q["sql"].startswith("SELECT") and 'FROM "contacts_contact"' in q["sql"]]
    for unread in ("first_name", "last_name", "custom_values"):
        assert f'"contacts_contact"."{unread}"' not in read
    assert '"contacts_contact"."phone"' in read
    assert set(Message.objects.values_list("contact_id", flat=True)) == {r.contact_id for r in rows}
    assert {m.body for m in Message.objects.all()} == {"Your flu shot is due at Org A Clinic."}


@time_machine.travel(NOON, tick=False)
def test_a_pause_stops_the_dispatcher_at_its_next_chunk(make_campaign, make_contact, monkeypatch, settings,
                                                        django_capture_on_commit_callbacks, admin_actor):
    settings.CAMPAIGN_DISPATCH_CHUNK_SIZE = 2
    for _ in range(6):
        make_contact()
    campaign = running(make_campaign())
    real = dispatching.send_chunk

    def chunk_then_pause(**kwargs):
        queued = real(**kwargs)
        pause_campaign(actor=admin_actor, campaign=Campaign.objects.get(pk=campaign.pk))  # another worker
        return queued

    monkeypatch.setattr(dispatching, "send_chunk", chunk_then_pause)
    result = dispatch(campaign, django_capture_on_commit_callbacks)
    assert result.outcome == "stopped" and result.queued == 2
    assert Message.objects.filter(origin="campaign").count() == 2
    assert list(states(campaign).values()).count("pending") == 4


@time_machine.travel(NOON, tick=False)
def test_a_stop_received_mid_campaign_means_nothing_more_for_that_patient(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    stays, leaves = make_contact(), make_contact()
    campaign = running(make_campaign())
    set_consent(actor=system_actor(leaves), contact=leaves, channel="sms", opted_in=False,
                source="keyword:STOP")
    dispatch(campaign, django_capture_on_commit_callbacks)
    assert list(Message.objects.filter(origin="campaign").values_list("contact_id", flat=True)) == [stays.pk]
    recipient = CampaignRecipient.objects.get(campaign=campaign, contact=leaves)
    assert recipient.state == "skipped" and recipient.skip_reason == "opted_out"


def test_a_recipient_in_their_night_is_deferred_to_their_morning_and_then_sent(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    with time_machine.travel(NOON, tick=False):  # 01:30 in Kolkata
        patient = make_contact(timezone="Asia/Kolkata")
        campaign = running(make_campaign())
        result = dispatch(campaign, django_capture_on_commit_callbacks)
        assert result.outcome == "waiting" and result.queued == 0
        recipient = CampaignRecipient.objects.get(campaign=campaign, contact=patient)
        assert recipient.state == "deferred"
        kolkata = datetime.timezone(datetime.timedelta(hours=5.5))
        opening = datetime.datetime(2026, 6, 11, 8, 0, tzinfo=kolkata)
        assert recipient.send_after == opening
        assert 0 < result.again_in <= 300  # the next look is at most five minutes ahead
        assert not Message.objects.exists()
    with time_machine.travel(opening + datetime.timedelta(minutes=1), tick=False):
        result = dispatch(campaign, django_capture_on_commit_callbacks)
        assert result.queued == 1
        assert Message.objects.get().contact_id == patient.pk


@time_machine.travel(NOON, tick=False)
def test_a_switched_off_channel_pauses_the_campaign_and_says_why(
        make_campaign, make_contact, sms_channel, django_capture_on_commit_callbacks):
    make_contact()
    campaign = running(make_campaign())
    Channel.objects.filter(pk=sms_channel.pk).update(is_active=False)
    assert dispatch(campaign, django_capture_on_commit_callbacks).outcome == "paused"
    campaign.refresh_from_db()
    assert campaign.state == "paused" and campaign.pause_reason == "channel_inactive"
    assert not Message.objects.exists()


@time_machine.travel(NOON, tick=False)
def test_message_statuses_are_copied_onto_recipients_in_one_statement(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    for _ in range(3):
        make_contact()
    campaign = running(make_campaign())
    dispatch(campaign, django_capture_on_commit_callbacks)
    delivered, failed, unknown = Message.objects.order_by("pk")
    Message.objects.filter(pk=delivered.pk).update(status="delivered")
    Message.objects.filter(pk=failed.pk).update(status="undelivered")
    Message.objects.filter(pk=unknown.pk).update(status="unknown")
    actor = dispatcher_actor(campaign.organization_id)
    with CaptureQueriesContext(connection) as queries:
        assert sync_recipient_states(actor=actor, campaign=campaign) == 3
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    by_message = dict(CampaignRecipient.objects.values_list("message_id", "state"))
    assert by_message == {delivered.pk: "delivered", failed.pk: "failed", unknown.pk: "unknown"}
    assert sync_recipient_states(actor=actor, campaign=campaign) == 0
    # Nothing is left for the dispatcher: the campaign completes, and its unknown recipient stays
    # "unknown — check" on the results page (never sent a second time).
    assert dispatch(campaign, django_capture_on_commit_callbacks).outcome == "completed"
    assert CampaignRecipient.objects.get(message=unknown).state == "unknown"


@time_machine.travel(NOON, tick=False)
def test_starting_a_campaign_runs_the_chain_fan_out_then_dispatch(
        make_campaign, make_contact, admin_actor, django_capture_on_commit_callbacks):
    for _ in range(3):
        make_contact()
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        start_campaign(actor=admin_actor, campaign=campaign)
    assert Message.objects.filter(origin="campaign", status="sent").count() == 3
    from campaigns.tasks import dispatch_campaign

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_campaign(org_id=campaign.organization_id, campaign_id=campaign.pk) == "completed"


@time_machine.travel(NOON, tick=False)
def test_a_running_campaign_whose_dispatcher_went_quiet_is_handed_on(make_campaign, make_contact, settings):
    make_contact()
    campaign = running(make_campaign())
    minutes = datetime.timedelta(minutes=1)
    Campaign.objects.filter(pk=campaign.pk).update(dispatch_heartbeat_at=NOON - 5 * minutes)
    assert dispatching.campaigns_needing_a_dispatcher(now=NOON) == [(campaign.organization_id, campaign.pk)]
    Campaign.objects.filter(pk=campaign.pk).update(dispatch_heartbeat_at=NOON - minutes / 2)
    assert dispatching.campaigns_needing_a_dispatcher(now=NOON) == []


@time_machine.travel(NOON, tick=False)
def test_only_a_few_seconds_of_the_rate_are_queued_ahead_so_a_pause_holds_the_rest(
        make_campaign, make_contact, sms_channel, settings, admin_actor):
    settings.CAMPAIGN_DISPATCH_AHEAD_SECONDS = 2
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=3)
    for _ in range(10):
        make_contact()
    campaign = running(make_campaign())
    actor = dispatcher_actor(campaign.organization_id)
    result = run_dispatch(actor=actor, campaign_id=campaign.pk)  # hand-offs not run: nothing goes out
    assert result.outcome == "pacing" and result.queued == 6 and result.again_in == 1.0
    assert Message.objects.filter(origin="campaign").count() == 6
    pause_campaign(actor=admin_actor, campaign=campaign)
    assert run_dispatch(actor=actor, campaign_id=campaign.pk).outcome == "stopped"
    assert list(states(campaign).values()).count("pending") == 4  # held by the pause
