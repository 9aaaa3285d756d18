"""A send interrupted after the provider accepted it is reconciled with the provider, never resent blind.

The crash is made exactly where it hurts: the provider has answered "accepted" and the worker
dies before the provider's id is stored (``_record`` raises, as a SIGKILL would stop it). The
next delivery finds the message "sending" and asks the provider through ``find_sent``.
"""

from __future__ import annotations

import pytest

from messaging.models import Message
from messaging.providers import MessageStatus, StatusUpdate
from messaging.services import dispatch
from messaging.services.dispatch import deliver_message
from messaging.services.statuses import apply_status_update
from tests.fakes import FakeGraph, FakeTelnyx, FakeTwilio
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import SETTING, queued, sends


class Crash(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way catches it."""


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.MESSAGING_RETRY_BASE_SECONDS = 0.01
    settings.MESSAGING_RETRY_MAX_SECONDS = 0.05


def crash_after_the_provider_answered(monkeypatch):
    real = dispatch._record

    def dying(message, result):
        monkeypatch.setattr(dispatch, "_record", real)
        raise Crash

    monkeypatch.setattr(dispatch, "_record", dying)


def fake_for(settings, key, fake_class):
    fake = fake_class().start()
    setattr(settings, SETTING[key], fake.api_base_url)
    return fake


@pytest.mark.parametrize("key,fake_class", [("twilio", FakeTwilio), ("telnyx", FakeTelnyx)])
def test_a_crash_after_the_provider_accepted_finds_the_message_instead_of_resending(
        tenant_a, settings, monkeypatch, key, fake_class):
    fake = fake_for(settings, key, fake_class)
    try:
        with tenant_a.scope():
            message = queued(tenant_a.org, make_channel(tenant_a.org, key))
            crash_after_the_provider_answered(monkeypatch)
            with pytest.raises(Crash):
                deliver_message(message.pk)
            message.refresh_from_db()
            assert message.status == "sending" and not message.provider_message_id

            assert deliver_message(message.pk).outcome == "sent"
            message.refresh_from_db()
            created = fake.created_sids if key == "twilio" else fake.created_ids
            assert len(created) == 1  # the patient got one message
            assert message.status == "sent" and message.provider_message_id == created[0]
            if key == "twilio":
                assert len(sends(fake)) == 1  # the look-up is a GET of the Messages list
                lookup = next(r for r in fake.requests if r.method == "GET")
                assert lookup.query["To"] == [message.remote_address]
                assert "DateSent>" in lookup.query
    finally:
        fake.stop()


def test_twilio_sends_when_its_list_shows_the_interrupted_attempt_never_arrived(tenant_a, settings):
    fake = fake_for(settings, "twilio", FakeTwilio)
    try:
        with tenant_a.scope():
            message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
            Message.objects.filter(pk=message.pk).update(status="sending", attempts=1)  # died before the POST
            assert deliver_message(message.pk).outcome == "sent"
            assert len(sends(fake)) == 1 and len(fake.created_sids) == 1
            message.refresh_from_db()
            assert message.provider_message_id == fake.created_sids[0]
    finally:
        fake.stop()


def test_an_interrupted_send_the_provider_never_got_waits_for_its_new_slot_as_queued(tenant_a, settings):
    """Found not sent, it is an ordinary queued message again: when its new slot lies ahead it is
    stored "queued" with that slot, and at the slot it is sent without being asked about again.
    (Left "sending", it was asked about at its slot, gave the slot up for a later one, and so on:
    after a Redis restart cut a batch between its claim and its sends, they never went out.)"""
    import time_machine
    from django.utils import timezone

    from messaging.ratelimit import get_rate_limiter

    fake = fake_for(settings, "twilio", FakeTwilio)
    try:
        with tenant_a.scope():
            channel = make_channel(tenant_a.org, "twilio", rate_limit_per_second=1)
            message = queued(tenant_a.org, channel)
            Message.objects.filter(pk=message.pk).update(status="sending", attempts=1)  # died before the POST
            get_rate_limiter().reserve(channel.pk, 1)  # the channel's next second is someone else's
            start = timezone.now()
            with time_machine.travel(start, tick=False):
                assert deliver_message(message.pk).outcome == "rate_limited"
            message.refresh_from_db()
            assert message.status == "queued" and message.dispatch_slot_at > start
            with time_machine.travel(message.dispatch_slot_at):
                assert deliver_message(message.pk).outcome == "sent"
            lookups = [r for r in fake.requests if r.method == "GET"]
            assert len(lookups) == 1 and len(sends(fake)) == 1 and len(fake.created_sids) == 1
    finally:
        fake.stop()


def test_a_twilio_message_with_the_same_text_sent_before_the_attempt_is_not_taken_for_it(tenant_a, settings):
    fake = fake_for(settings, "twilio", FakeTwilio)
    try:
        with tenant_a.scope():
            channel = make_channel(tenant_a.org, "twilio")
            earlier = queued(tenant_a.org, channel)
            assert deliver_message(earlier.pk).outcome == "sent"
            message = Message.objects.create(
                organization=tenant_a.org, conversation=earlier.conversation, channel=channel,
                contact=earlier.contact, direction="outbound", origin="staff", body="Another text",
                status="sending", attempts=1, remote_address=earlier.remote_address,
                remote_address_index=earlier.remote_address_index)
            assert deliver_message(message.pk).outcome == "sent"
            assert len(fake.created_sids) == 2  # a different body: not found, so sent
    finally:
        fake.stop()


def test_a_failing_twilio_look_up_is_asked_again_and_nothing_is_sent_meanwhile(tenant_a, settings):
    fake = fake_for(settings, "twilio", FakeTwilio)
    try:
        with tenant_a.scope():
            message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
            Message.objects.filter(pk=message.pk).update(status="sending", attempts=1)
            fake.fail_next(1, status=500)
            result = deliver_message(message.pk)
            assert result.outcome == "retry" and result.retry_in > 0
            message.refresh_from_db()
            assert message.status == "sending" and not sends(fake)
            assert deliver_message(message.pk).outcome == "sent" and len(sends(fake)) == 1
    finally:
        fake.stop()


def test_whatsapp_cloud_cannot_be_asked_so_the_message_becomes_unknown_for_staff(
        tenant_a, settings, monkeypatch):
    fake = fake_for(settings, "whatsapp_cloud", FakeGraph)
    try:
        with tenant_a.scope():
            message = queued(tenant_a.org, make_channel(tenant_a.org, "whatsapp_cloud"))
            crash_after_the_provider_answered(monkeypatch)
            with pytest.raises(Crash):
                deliver_message(message.pk)
            assert deliver_message(message.pk).outcome == "unknown"
            message.refresh_from_db()
            assert message.status == "unknown" and message.error_code == "unknown_check"
            assert "not sent again" in message.error_message and "check" in message.error_message
            assert message.lease_expires_at is None  # no sweep resends it
            from messaging.views.common import status_row

            row = status_row(message)  # what the inbox thread shows staff
            assert row["status_label"] == "Unknown — check with the provider"
            assert row["status_class"] == "text-bg-warning" and "could not confirm" in row["error"]
            assert len(sends(fake)) == 1
            assert deliver_message(message.pk).outcome == "skipped"
            assert len(sends(fake)) == 1
    finally:
        fake.stop()


def test_a_whatsapp_status_webhook_naming_our_reference_settles_the_interrupted_send(
        tenant_a, settings, monkeypatch):
    fake = fake_for(settings, "whatsapp_cloud", FakeGraph)
    try:
        with tenant_a.scope():
            channel = make_channel(tenant_a.org, "whatsapp_cloud")
            message = queued(tenant_a.org, channel)
            crash_after_the_provider_answered(monkeypatch)
            with pytest.raises(Crash):
                deliver_message(message.pk)
            sent = fake.last_request.json
            assert sent["biz_opaque_callback_data"] == f"msg-{message.pk}"  # our reference travelled
            update = StatusUpdate(provider_message_id="wamid.ABC", status=MessageStatus.DELIVERED,
                                  raw_status="delivered", dedupe_key="wamid.ABC:delivered",
                                  correlation_data=f"msg-{message.pk}")
            assert apply_status_update(channel, update) is True
            message.refresh_from_db()
            assert message.status == "delivered" and message.provider_message_id == "wamid.ABC"
            assert deliver_message(message.pk).outcome == "skipped"
            assert len(sends(fake)) == 1
    finally:
        fake.stop()


def test_a_late_webhook_resolves_a_message_staff_were_asked_to_check(tenant_a, settings):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "whatsapp_cloud")
        message = queued(tenant_a.org, channel)
        Message.objects.filter(pk=message.pk).update(status="unknown", error_code="unknown_check")
        update = StatusUpdate(provider_message_id="wamid.LATE", status=MessageStatus.READ, raw_status="read",
                              dedupe_key="wamid.LATE:read", correlation_data=f"msg-{message.pk}")
        assert apply_status_update(channel, update) is True
        message.refresh_from_db()
        assert message.status == "read" and message.provider_message_id == "wamid.LATE"


def test_a_timeout_leaves_the_message_in_doubt_and_the_retry_reconciles_first(
        tenant_a, settings, monkeypatch):
    fake = fake_for(settings, "twilio", FakeTwilio)
    try:
        with tenant_a.scope():
            message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
            from messaging.providers import SendOutcome, SendResult
            from messaging.providers.twilio import TwilioBackend

            real_send = TwilioBackend.send

            def send_then_time_out(self, config, outbound):
                real_send(self, config, outbound)  # Twilio took it; the answer never came back
                return SendResult(SendOutcome.RETRY_LATER, error_code="timeout",
                                  error_message="Twilio did not answer in time.")

            monkeypatch.setattr(TwilioBackend, "send", send_then_time_out)
            assert deliver_message(message.pk).outcome == "retry"
            message.refresh_from_db()
            assert message.status == "sending"
            monkeypatch.setattr(TwilioBackend, "send", real_send)
            assert deliver_message(message.pk).outcome == "sent"
            assert len(fake.created_sids) == 1
    finally:
        fake.stop()
