"""Fan-out: one row per contact, in bulk chunks, deferred by each recipient's own quiet hours."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.actor import Actor
from campaigns import fanout as fanout_module
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from contacts.services import set_consent
from tests.factories import system_actor

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def running(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(state="running")
    return campaign


def system(campaign):
    return Actor.system("campaign-fanout", organization_id=campaign.organization_id)


@time_machine.travel(datetime.datetime(2026, 6, 10, 18, 0, tzinfo=UTC), tick=False)
def test_each_recipient_is_deferred_by_their_own_time_zone(make_campaign, make_contact):
    honolulu = make_contact(timezone="Pacific/Honolulu")  # 08:00 there: inside
    kolkata = make_contact(timezone="Asia/Kolkata")  # 23:30 there: deferred to 08:00 IST
    org_zone = make_contact(timezone="")  # organisation's zone (UTC): 18:00, inside
    opted_out = make_contact(timezone="Asia/Kolkata")
    set_consent(actor=system_actor(opted_out), contact=opted_out, channel="sms", opted_in=False,
                source="staff")
    campaign = running(make_campaign())
    counts = fan_out(actor=system(campaign), campaign_id=campaign.pk)
    assert counts == {"pending": 2, "deferred": 1, "skipped": 1}
    rows = {r.contact_id: r for r in CampaignRecipient.objects.filter(campaign=campaign)}
    assert rows[honolulu.pk].state == rows[org_zone.pk].state == "pending"
    assert rows[kolkata.pk].state == "deferred"
    assert rows[kolkata.pk].send_after == datetime.datetime(2026, 6, 11, 2, 30, tzinfo=UTC)
    assert (rows[opted_out.pk].state, rows[opted_out.pk].skip_reason) == ("skipped", "opted_out")
    assert rows[honolulu.pk].segments == 1 and rows[honolulu.pk].language == "en"


@time_machine.travel(datetime.datetime(2026, 6, 10, 12, 0, tzinfo=UTC), tick=False)
def test_the_campaigns_own_window_overrides_the_organisations(make_campaign, make_contact):
    make_contact(timezone="Europe/Berlin")  # 14:00 in Berlin
    campaign = running(
        make_campaign(send_window_start=datetime.time(18, 0), send_window_end=datetime.time(20, 0))
    )
    fan_out(actor=system(campaign), campaign_id=campaign.pk)
    row = CampaignRecipient.objects.get(campaign=campaign)
    assert row.state == "deferred"
    assert row.send_after == datetime.datetime(2026, 6, 10, 16, 0, tzinfo=UTC)


def test_rows_are_inserted_one_statement_per_chunk(make_campaign, make_contact):
    for _ in range(5):
        make_contact()
    campaign = running(make_campaign())
    with CaptureQueriesContext(connection) as queries:
        fan_out(actor=system(campaign), campaign_id=campaign.pk, chunk_size=2)
    inserts = [q for q in queries.captured_queries if 'INTO "campaigns_campaignrecipient"' in q["sql"]]
    assert len(inserts) == 3
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 5


def test_a_crashed_fan_out_resumes_without_duplicates_or_losses(make_campaign, make_contact, monkeypatch):
    contacts = [make_contact() for _ in range(5)]
    campaign = running(make_campaign())
    real_row, calls = fanout_module.recipient_row, {"n": 0}

    def crashing_row(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # in the third chunk of two
            raise RuntimeError("worker killed")
        return real_row(*args, **kwargs)

    monkeypatch.setattr(fanout_module, "recipient_row", crashing_row)
    with pytest.raises(RuntimeError):
        fan_out(actor=system(campaign), campaign_id=campaign.pk, chunk_size=2)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 4
    monkeypatch.setattr(fanout_module, "recipient_row", real_row)
    fan_out(actor=system(campaign), campaign_id=campaign.pk, chunk_size=2)
    stored = CampaignRecipient.objects.filter(campaign=campaign).values_list("contact_id", flat=True)
    assert sorted(stored) == sorted(c.pk for c in contacts)
    campaign.refresh_from_db()
    assert campaign.fanout_done
    # Done: a re-delivered task is a no-op.
    assert fan_out(actor=system(campaign), campaign_id=campaign.pk) == {}


def test_a_lost_cursor_is_harmless_the_constraint_keeps_one_row_per_contact(make_campaign, make_contact):
    for _ in range(3):
        make_contact()
    campaign = running(make_campaign())
    fan_out(actor=system(campaign), campaign_id=campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(fanout_cursor={}, fanout_done=False)
    fan_out(actor=system(campaign), campaign_id=campaign.pk)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 3


def test_the_database_refuses_a_contact_twice_in_one_campaign(make_campaign, make_contact, tenant_a):
    contact, campaign = make_contact(), make_campaign()
    CampaignRecipient.objects.create(organization=tenant_a.org, campaign=campaign, contact=contact)
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.create(organization=tenant_a.org, campaign=campaign, contact=contact)


def test_a_skipped_row_needs_a_reason(make_campaign, make_contact, tenant_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.create(
            organization=tenant_a.org, campaign=make_campaign(), contact=make_contact(), state="skipped"
        )


def test_cancelling_stops_the_fan_out_at_the_next_chunk(make_campaign, make_contact, monkeypatch):
    for _ in range(6):
        make_contact()
    campaign = running(make_campaign())
    real_row = fanout_module.recipient_row

    def cancel_on_first(*args, **kwargs):
        Campaign.objects.filter(pk=campaign.pk).update(state="cancelled")  # another worker cancels
        return real_row(*args, **kwargs)

    monkeypatch.setattr(fanout_module, "recipient_row", cancel_on_first)
    fan_out(actor=system(campaign), campaign_id=campaign.pk, chunk_size=2)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2
    campaign.refresh_from_db()
    assert not campaign.fanout_done


def test_a_draft_is_never_fanned_out(make_campaign, make_contact):
    make_contact()
    campaign = make_campaign()
    fan_out(actor=system(campaign), campaign_id=campaign.pk)
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_a_second_worker_leaves_a_running_fan_out_alone(make_campaign, make_contact, settings):
    import psycopg

    make_contact()
    campaign = running(make_campaign())
    db = settings.DATABASES["default"]
    other = psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [fanout_module._LOCK_SPACE, campaign.pk])
        assert fan_out(actor=system(campaign), campaign_id=campaign.pk) == {}
        assert not CampaignRecipient.objects.filter(campaign=campaign).exists()
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [fanout_module._LOCK_SPACE, campaign.pk])
        # Lock released: this worker fans out (pending or deferred, by the Californian clock).
        assert sum(fan_out(actor=system(campaign), campaign_id=campaign.pk).values()) == 1
    finally:
        other.close()
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 1
