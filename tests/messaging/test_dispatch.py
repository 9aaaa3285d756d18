"""Dispatch through each real provider SDK path against the fakes: retries, outages, refusals, once only."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from contacts.selectors import consent_state
from contacts.services import create_contact
from messaging.models import Conversation, Message
from messaging.ratelimit import get_rate_limiter
from messaging.services.dispatch import _MESSAGE_LOCK_SPACE, WINDOW_CLOSED_TEXT, deliver_message
from messaging.tasks import STALLED_AFTER, dispatch_message, requeue_stalled_messages
from tests.factories import system_actor
from tests.fakes import FakeGraph, FakeTelnyx, FakeTwilio
from tests.messaging.backend_helpers import PATIENT, make_channel

FAKES = {"twilio": FakeTwilio, "telnyx": FakeTelnyx, "whatsapp_cloud": FakeGraph}
SETTING = {"twilio": "TWILIO_API_BASE_URL", "telnyx": "TELNYX_API_BASE_URL",
           "whatsapp_cloud": "WHATSAPP_GRAPH_BASE_URL"}


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.MESSAGING_RETRY_BASE_SECONDS = 0.01
    settings.MESSAGING_RETRY_MAX_SECONDS = 0.05


@pytest.fixture(params=["twilio", "telnyx", "whatsapp_cloud"])
def provider(request, settings):
    with FAKES[request.param]() as fake:
        setattr(settings, SETTING[request.param], fake.api_base_url)
        yield request.param, fake


def queued(org, channel, body="Reminder: appointment tomorrow at 9") -> Message:
    contact = create_contact(actor=system_actor(org), organization=org, phone=PATIENT)
    conversation = Conversation.objects.create(organization=org, channel=channel, contact=contact)
    return Message.objects.create(organization=org, conversation=conversation, channel=channel,
                                  contact=contact, direction="outbound", origin="staff", body=body,
                                  status="queued",
                                  remote_address=PATIENT, remote_address_index=contact.phone_index)


def sends(fake) -> list:
    return [r for r in fake.requests if r.method == "POST"]


@pytest.mark.parametrize("status", [429, 500])
def test_busy_provider_then_recovery_sends_exactly_once(tenant_a, provider, status):
    key, fake = provider
    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, key))
        fake.fail_next(2, status=status, retry_after=0)
        assert dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk).get() == "sent"
        message.refresh_from_db()
        assert message.status == "sent" and message.attempts == 3 and message.provider_message_id
        assert len(sends(fake)) == 3  # two refused, one accepted: the patient gets one message
        assert dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk).get() == "skipped"
        assert len(sends(fake)) == 3


def test_an_outage_delays_the_send_and_never_drops_it(tenant_a, provider):
    key, fake = provider
    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, key))
        fake.stop()  # connection refused
        result = deliver_message(message.pk)
        assert result.outcome == "retry" and result.retry_in > 0
        message.refresh_from_db()
        assert message.status == "queued" and message.attempts == 1
        fake.start()
        assert deliver_message(message.pk).outcome == "sent"
        message.refresh_from_db()
        assert message.status == "sent" and len(sends(fake)) == 1


def test_after_the_last_attempt_the_message_fails_with_a_clear_error(tenant_a, settings):
    settings.MESSAGING_DISPATCH_MAX_ATTEMPTS = 3
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        fake.fail_next(5, status=500)
        assert dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk).get() == "failed"
        message.refresh_from_db()
        assert message.status == "failed" and message.attempts == 3 and message.failed_at
        assert "after 3 attempts" in message.error_message and "send it again" in message.error_message


def test_telnyx_gets_the_same_idempotency_key_on_every_attempt(tenant_a, settings):
    with FakeTelnyx() as fake, tenant_a.scope():
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "telnyx"))
        fake.fail_next(1, status=500)
        dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk)
        keys = {r.headers.get("idempotency-key") for r in sends(fake)}
        assert len(keys) == 1 and None not in keys and str(message.pk) in keys.pop()


def test_an_in_doubt_message_is_resent_with_its_key(tenant_a, settings):
    with FakeTelnyx() as fake, tenant_a.scope():
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "telnyx"))
        Message.objects.filter(pk=message.pk).update(status="sending", attempts=1)  # a worker died mid-call
        assert deliver_message(message.pk).outcome == "sent"
        assert sends(fake)[0].headers["idempotency-key"].startswith("carerelay-")


def test_a_message_another_live_worker_holds_is_left_alone(tenant_a, settings):
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        db = connection.settings_dict
        other = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                                dbname=db["NAME"], autocommit=True)
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [_MESSAGE_LOCK_SPACE + message.pk])
            assert deliver_message(message.pk).outcome == "busy"
            assert not sends(fake)
        finally:
            other.close()  # the "worker" dies: its lock goes with its connection
        outcome = "busy"
        for _ in range(50):  # the server notices the closed connection within moments
            outcome = deliver_message(message.pk).outcome
            if outcome != "busy":
                break
            time.sleep(0.05)
        assert outcome == "sent"


def test_twilio_21610_marks_the_contact_opted_out_and_fails(tenant_a, settings):
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        fake.opted_out.add(PATIENT)
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        assert deliver_message(message.pk).outcome == "failed"
        message.refresh_from_db()
        assert message.status == "failed" and "opted out" in message.error_message
        message.contact.refresh_from_db()
        assert consent_state(message.contact, "sms").opted_in is False


def test_one_send_reads_the_patients_consent_and_not_their_details(tenant_a, settings):
    from django.test.utils import CaptureQueriesContext

    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        with CaptureQueriesContext(connection) as queries:
            assert deliver_message(message.pk).outcome == "sent"
        [read] = [q["sql"] for q in queries if 'FROM "messaging_message"' in q["sql"]
                  and q["sql"].startswith("SELECT")]
        assert '"contacts_contact"."sms_opted_in"' in read
        for detail in ("first_name", "last_name", "phone", "email", "date_of_birth", "custom_values"):
            assert f'"contacts_contact"."{detail}"' not in read
        assert [r.field("To") for r in sends(fake)] == [PATIENT]


def test_whatsapp_window_closed_fails_with_the_template_hint(tenant_a, settings):
    with FakeGraph() as fake, tenant_a.scope():
        settings.WHATSAPP_GRAPH_BASE_URL = fake.api_base_url
        fake.outside_window.add(PATIENT)
        message = queued(tenant_a.org, make_channel(tenant_a.org, "whatsapp_cloud"))
        deliver_message(message.pk)
        message.refresh_from_db()
        assert message.status == "failed" and message.error_message == WINDOW_CLOSED_TEXT


def test_a_permanent_failure_keeps_the_providers_reason(tenant_a, settings):
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        channel = make_channel(tenant_a.org, "twilio", credentials={"account_sid": fake.account_sid,
                                                                    "auth_token": "wrong"})
        message = queued(tenant_a.org, channel)
        deliver_message(message.pk)
        message.refresh_from_db()
        assert message.status == "failed" and message.error_message.startswith("The provider refused")
        assert PATIENT not in message.error_message


def test_over_the_rate_limit_nothing_is_sent_and_the_wait_is_reported(tenant_a, settings):
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        channel = make_channel(tenant_a.org, "twilio", rate_limit_per_second=1)
        message = queued(tenant_a.org, channel)
        assert get_rate_limiter().reserve(channel.pk, 1).wait == 0  # another worker just took the slot
        result = deliver_message(message.pk)
        assert result.outcome == "rate_limited" and 0 < result.retry_in <= 1
        message.refresh_from_db()
        assert message.status == "queued" and message.attempts == 0 and not sends(fake)


def test_a_message_to_someone_who_opted_out_since_queuing_is_not_sent(tenant_a, settings):
    from contacts.services import set_consent

    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        set_consent(actor=system_actor(message.contact), contact=message.contact, channel="sms",
                    opted_in=False, source="keyword:STOP")
        assert deliver_message(message.pk).outcome == "failed"
        assert not sends(fake)


def test_a_send_whose_task_was_lost_is_requeued_by_the_beat_sweep(tenant_a, settings):
    """The broker was down when the send was queued: the periodic sweep hands it to Celery again."""
    schedule = settings.CELERY_BEAT_SCHEDULE["requeue-stalled-messages"]
    assert schedule["task"] in app.tasks and schedule["schedule"] < STALLED_AFTER.total_seconds()
    with FakeTwilio() as fake, tenant_a.scope():
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        channel = make_channel(tenant_a.org, "twilio")
        stalled = queued(tenant_a.org, channel)
        Message.objects.filter(pk=stalled.pk).update(created_at=timezone.now() - STALLED_AFTER - timedelta(1))
        fresh = Message.objects.create(
            organization=tenant_a.org, conversation=stalled.conversation, channel=channel,
            contact=stalled.contact, direction="outbound", origin="staff", body="In flight", status="queued",
            remote_address=PATIENT, remote_address_index=stalled.remote_address_index)
        assert requeue_stalled_messages() == 1
        stalled.refresh_from_db()
        fresh.refresh_from_db()
        assert stalled.status == "sent" and len(sends(fake)) == 1
        assert fresh.status == "queued"  # young enough that its own task may still be on its way
