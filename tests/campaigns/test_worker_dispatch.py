"""Fault tests with real Celery workers: a campaign through the fake Twilio survives SIGKILLs
(including one after Twilio accepted a message but before its sid was stored), a 429/500 storm,
keeps the channel's rate on the fake's own clock, and a STOP mid-campaign stops that patient.

The test process plays Celery beat: it runs the sweeps (stalled sends, quiet dispatchers)
every second, as beat would every few minutes, with leases short enough for a test.
"""

from __future__ import annotations

import datetime
import threading
from collections import Counter

import pytest
from django_scopes import scope

from campaigns.models import Campaign
from campaigns.services.lifecycle import start_campaign
from contacts.services import set_consent
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from tests.factories import system_actor
from tests.fakes import FakeTwilio
from tests.messaging.backend_helpers import make_channel
from tests.worker_faults.test_worker_crash import wait_for

pytestmark = pytest.mark.worker
INCLUDE = ["campaigns.tasks", "messaging.tasks"]
VISIBILITY = 8


@pytest.fixture
def twilio(monkeypatch, settings):
    with FakeTwilio() as fake:
        for name, value in {"TWILIO_API_BASE_URL": fake.api_base_url, "MESSAGING_SEND_LEASE_SECONDS": "15",
                            "MESSAGING_RETRY_BASE_SECONDS": "0.2", "MESSAGING_RETRY_MAX_SECONDS": "2",
                            "CAMPAIGN_DISPATCH_WATCH_SECONDS": "1", "CAMPAIGN_DISPATCH_CHUNK_SIZE": "250",
                            "CAMPAIGN_DISPATCH_RUN_SECONDS": "5",
                            "MESSAGING_DISPATCH_MAX_ATTEMPTS": "60"}.items():
            monkeypatch.setenv(name, value)  # read by the worker processes
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        settings.MESSAGING_HANDOFF_LEASE_SECONDS = 30
        settings.CAMPAIGN_DISPATCH_STALE_SECONDS = 10
        yield fake


class Beat:
    """The sweeps beat would run, every second, in a thread of the test process."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from django.db import connection

        from campaigns.tasks import resume_quiet_dispatchers
        from messaging.tasks import requeue_stalled_messages

        try:
            while not self._stop.wait(1.0):
                requeue_stalled_messages()
                resume_quiet_dispatchers()
        finally:
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def campaign_of(tenant, count: int, *, rate: int, make_template):
    from campaigns.services.campaigns import create_campaign
    from contacts.services import create_contact

    with scope(organization=tenant.org):
        channel = make_channel(tenant.org, "twilio", rate_limit_per_second=rate)
        actor = system_actor(tenant.org)
        contacts = [create_contact(actor=actor, organization=tenant.org, first_name=f"P{n}",
                                   phone=f"+1415555{n:04d}", timezone="UTC") for n in range(count)]
        from accounts.actor import actor_for

        admin = actor_for(tenant.member("admin"), tenant.org)
        campaign = create_campaign(actor=admin, organization=tenant.org, name="Flu", kind="care",
                                   channel=channel, template=make_template())
        # Always inside the window: the test must not depend on the hour it runs at.
        Campaign.objects.filter(pk=campaign.pk).update(send_window_start=datetime.time(0, 0),
                                                       send_window_end=datetime.time(23, 59, 59))
        campaign.refresh_from_db()
        return channel, contacts, campaign, admin


def start(tenant, campaign, admin):
    with scope(organization=tenant.org):
        start_campaign(actor=admin, campaign=campaign)


def state_of(tenant, campaign) -> str:
    with scope(organization=tenant.org):
        return Campaign.objects.get(pk=campaign.pk).state


def per_number(fake) -> Counter:
    return Counter(r.field("To") for r in fake.requests if r.method == "POST")


@pytest.fixture
def template_maker(tenant_a):
    from accounts.actor import actor_for
    from campaigns.services.templates import create_template

    def make():
        with scope(organization=tenant_a.org):
            return create_template(actor=actor_for(tenant_a.member("admin"), tenant_a.org),
                                   organization=tenant_a.org, name="Flu", on_missing="skip", language="en",
                                   body="Hi {{ first_name }}, your flu shot is due.")

    return make


def test_sigkills_mid_campaign_send_each_patient_exactly_once(celery_worker_factory, tenant_a, twilio,
                                                              template_maker):
    channel, _contacts, campaign, admin = campaign_of(tenant_a, 2000, rate=1000, make_template=template_maker)
    worker = celery_worker_factory(include=INCLUDE, visibility_timeout=VISIBILITY).start()
    with Beat():
        start(tenant_a, campaign, admin)
        wait_for(lambda: len(twilio.created_sids) >= 300, 180, "the first sends")
        worker.kill()  # a crash mid-campaign
        worker = celery_worker_factory(include=INCLUDE, visibility_timeout=VISIBILITY).start()
        wait_for(lambda: len(twilio.created_sids) >= 900, 240, "sends after the restart")
        # Now the worst moment: Twilio has accepted a message, its sid is not stored yet.
        twilio.accepted_while_held.clear()
        twilio.hold_after_accept = threading.Event()
        wait_for(twilio.accepted_while_held.is_set, 60, "a send held after Twilio accepted it")
        held_sid = twilio.created_sids[-1]
        worker.kill()
        held, twilio.hold_after_accept = twilio.hold_after_accept, None
        held.set()
        with scope(organization=tenant_a.org):
            assert not Message.objects.filter(provider_message_id=held_sid).exists()
        celery_worker_factory(include=INCLUDE, visibility_timeout=VISIBILITY).start()
        wait_for(lambda: state_of(tenant_a, campaign) == "completed", 600, "the campaign to complete")
    sent = per_number(twilio)
    assert len(sent) == 2000 and set(sent.values()) == {1}, Counter(sent.values())
    with scope(organization=tenant_a.org):
        messages = Message.objects.filter(channel=channel, origin="campaign")
        assert messages.count() == 2000 and not messages.exclude(status="sent").exists()
        assert messages.get(provider_message_id=held_sid)  # found through Twilio's list, not resent
        assert set(messages.values_list("provider_message_id", flat=True)) == set(twilio.created_sids)


def test_a_429_500_storm_then_recovery_delivers_everything_once_within_the_rate(
        celery_worker_factory, tenant_a, twilio, template_maker):
    channel, contacts, campaign, admin = campaign_of(tenant_a, 300, rate=25, make_template=template_maker)
    with scope(organization=tenant_a.org):
        get_rate_limiter().reset(channel.pk)
    celery_worker_factory(include=INCLUDE, visibility_timeout=60).start()
    with Beat():
        start(tenant_a, campaign, admin)
        wait_for(lambda: len(twilio.created_sids) >= 40, 120, "the first sends")
        twilio.fail_next(30, status=429, retry_after=0)
        twilio.fail_next(30, status=500)
        with scope(organization=tenant_a.org):  # a STOP arrives mid-campaign, from the last in line
            from campaigns.models import CampaignRecipient

            last = CampaignRecipient.objects.filter(campaign=campaign).order_by("-pk").first()
            leaver = next(c for c in contacts if c.pk == last.contact_id)
            set_consent(actor=system_actor(tenant_a.org), contact=leaver, channel="sms", opted_in=False,
                        source="keyword:STOP")
        wait_for(lambda: state_of(tenant_a, campaign) == "completed", 600, "the campaign to complete")
    sent = per_number(twilio)
    accepted = Counter(r["to"] for r in twilio.resources)
    assert leaver.phone not in accepted  # nothing more for the patient who replied STOP
    with scope(organization=tenant_a.org):
        recipient = CampaignRecipient.objects.select_related("message").get(campaign=campaign, contact=leaver)
        assert (recipient.state, recipient.skip_reason) == ("skipped", "opted_out") or (
            recipient.message.status == "failed" and recipient.message.error_code == "opted_out")
    assert len(accepted) == 299 and set(accepted.values()) == {1}
    assert sum(sent.values()) >= 299 + 1  # the storm's refusals were retried
    # The channel's 25 messages a second, on the fake's own clock: its per-second histogram. (Over
    # any sliding second, loopback latency under load may let one more slip in: at most one.)
    assert max(twilio.per_second().values()) <= 25, twilio.per_second()
    assert twilio.max_in_any_second() <= 26, twilio.per_second()
    with scope(organization=tenant_a.org):
        assert Channel.objects.get(pk=channel.pk).rate_limit_per_second == 25
