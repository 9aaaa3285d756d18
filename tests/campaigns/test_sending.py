"""What the dispatcher gets: due recipients re-checked at their turn, rendered, in batches."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.actor import Actor
from campaigns import sending
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.templates import save_variant
from contacts.services import set_consent, update_contact
from tests.factories import system_actor

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
# 13:00 in California, where the test patients (+1 415 numbers) live.
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=UTC)


def dispatcher(campaign):
    return Actor.system("campaign-dispatcher", organization_id=campaign.organization_id)


def fanned_out(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(state="running")
    fan_out(actor=dispatcher(campaign), campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


@time_machine.travel(NOON, tick=False)
def test_a_batch_is_rendered_with_current_values_and_a_stable_key(make_campaign, make_contact):
    contact = make_contact(first_name="Ada")
    campaign = fanned_out(make_campaign())
    update_contact(actor=system_actor(contact), contact=contact,
                   first_name="Adele")  # changed after the fan-out
    actor = dispatcher(campaign)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    batch = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=NOON)
    [ready] = batch.ready
    assert ready.body == "Hi Adele, your flu shot is due at Org A Clinic."
    assert ready.idempotency_key == f"campaign-{campaign.pk}-recipient-{rows[0].pk}"
    assert ready.segments == 1 and ready.whatsapp_template_id is None
    again = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=NOON)
    assert again.ready[0].idempotency_key == ready.idempotency_key


@time_machine.travel(NOON, tick=False)
def test_a_stop_mid_campaign_skips_the_patient(make_campaign, make_contact):
    contact = make_contact()
    campaign = fanned_out(make_campaign())
    set_consent(actor=system_actor(contact), contact=contact, channel="sms", opted_in=False,
                source="keyword:STOP")
    actor = dispatcher(campaign)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    batch = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=NOON)
    assert batch.ready == [] and batch.skipped == {rows[0].pk: "opted_out"}
    sending.apply_batch_outcomes(actor=actor, campaign=campaign, batch=batch)
    row = CampaignRecipient.objects.get(pk=rows[0].pk)
    assert (row.state, row.skip_reason) == ("skipped", "opted_out")


def test_a_window_that_closed_while_sending_defers_to_the_next_opening(make_campaign, make_contact):
    with time_machine.travel(datetime.datetime(2026, 6, 10, 15, 0, tzinfo=UTC), tick=False):
        make_contact(timezone="Europe/Berlin")  # 17:00 there at fan-out: pending
        campaign = fanned_out(make_campaign())
    assert CampaignRecipient.objects.get(campaign=campaign).state == "pending"
    late = datetime.datetime(2026, 6, 10, 19, 30, tzinfo=UTC)  # 21:30 in Berlin: closed
    actor = dispatcher(campaign)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=late)
    batch = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=late)
    sending.apply_batch_outcomes(actor=actor, campaign=campaign, batch=batch)
    row = CampaignRecipient.objects.get(campaign=campaign)
    assert row.state == "deferred" and row.send_after == datetime.datetime(2026, 6, 11, 6, 0, tzinfo=UTC)
    assert sending.due_recipients(actor=actor, campaign=campaign, now=late) == []
    due = sending.due_recipients(actor=actor, campaign=campaign, now=row.send_after)
    assert [r.pk for r in due] == [row.pk]


@time_machine.travel(NOON, tick=False)
def test_outcomes_and_queued_ids_are_written_one_statement_each(
    make_campaign, make_contact, tenant_a, sms_channel
):
    from messaging.models import Message

    contacts = [make_contact() for _ in range(4)]
    campaign = fanned_out(make_campaign())
    for contact in contacts[:2]:
        set_consent(actor=system_actor(contact), contact=contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
    actor = dispatcher(campaign)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    batch = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=NOON)
    messages = {
        p.recipient_id: Message.objects.create(
            organization=tenant_a.org,
            channel=sms_channel,
            contact_id=p.contact_id,
            direction="outbound",
            origin="campaign",
            body=p.body,
            status="queued",
        ).pk
        for p in batch.ready
    }
    with CaptureQueriesContext(connection) as queries:
        sending.apply_batch_outcomes(actor=actor, campaign=campaign, batch=batch)
        assert sending.record_queued(actor=actor, campaign=campaign, message_ids=messages) == 2
    assert (
        sum(q["sql"].startswith('UPDATE "campaigns_campaignrecipient"') for q in queries.captured_queries)
        == 2
    )
    states = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("pk", "state"))
    assert sorted(states.values()) == ["queued", "queued", "skipped", "skipped"]
    assert set(CampaignRecipient.objects.filter(state="queued").values_list("message_id", flat=True)) == set(
        messages.values()
    )


@time_machine.travel(NOON, tick=False)
def test_whatsapp_parameters_are_rendered_per_patient(make_campaign, make_contact, tenant_a, admin_actor):
    from messaging.models import Channel, WhatsAppTemplate

    whatsapp = Channel.objects.create(
        organization=tenant_a.org,
        name="WA",
        provider="whatsapp_cloud",
        kind="whatsapp",
        address="123",
        webhook_secret="x",
    )
    approved = WhatsAppTemplate.objects.create(
        organization=tenant_a.org,
        channel=whatsapp,
        name="reminder",
        language="en_US",
        preview="Hi {{1}}, see you at {{2}}.",
        parameter_count=2,
    )
    make_contact(first_name=None)
    campaign = make_campaign(channel=whatsapp)
    save_variant(
        actor=admin_actor,
        template=campaign.template,
        language="en",
        whatsapp_template=approved,
        whatsapp_parameters=['first_name | "there"', "organisation"],
    )
    campaign = fanned_out(campaign)
    actor = dispatcher(campaign)
    rows = sending.due_recipients(actor=actor, campaign=campaign, now=NOON)
    [ready] = sending.prepare_batch(actor=actor, campaign=campaign, recipients=rows, now=NOON).ready
    assert ready.whatsapp_template_id == approved.pk
    assert ready.parameters == ("there", "Org A Clinic")
    assert ready.body == "Hi there, see you at Org A Clinic."
