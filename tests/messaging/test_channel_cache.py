"""Webhook channels are cached per process, and a changed channel is never served stale here."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, transaction

from accounts import process_cache
from messaging import channel_cache
from messaging.models import Channel, Message
from tests.fakes.payloads import twilio_inbound_sms
from tests.messaging.backend_helpers import PATIENT, TWILIO_TOKEN, make_channel, post_twilio


@pytest.fixture
def twilio(tenant_a):
    with tenant_a.scope():
        return make_channel(tenant_a.org, "twilio")


def inbound(sid: str):
    return twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="hello", message_sid=sid)


def test_a_second_webhook_reuses_the_loaded_channel(twilio, django_assert_num_queries):
    assert post_twilio(twilio, inbound("SM" + "1" * 32)).status_code == 200
    assert channel_cache.channel_for_webhook(twilio.webhook_id).pk == twilio.pk
    with django_assert_num_queries(0):
        channel_cache.channel_for_webhook(twilio.webhook_id)


def test_a_rotated_webhook_secret_takes_effect_at_once_in_this_process(tenant_a, twilio):
    assert post_twilio(twilio, inbound("SM" + "2" * 32)).status_code == 200  # now cached
    with tenant_a.scope():
        twilio.credentials = {**twilio.credentials, "auth_token": "rotated-token"}  # Twilio signs with it
        twilio.save()
    assert post_twilio(twilio, inbound("SM" + "3" * 32), token=TWILIO_TOKEN).status_code == 403
    assert post_twilio(twilio, inbound("SM" + "4" * 32), token="rotated-token").status_code == 200


def test_a_deleted_channel_is_unknown_at_once(tenant_a, twilio):
    assert post_twilio(twilio, inbound("SM" + "5" * 32)).status_code == 200
    with tenant_a.scope():
        Message.objects.filter(channel=twilio).delete()
        twilio.conversations.all().delete()
        twilio.delete()
    assert post_twilio(twilio, inbound("SM" + "6" * 32)).status_code == 404


def test_changes_made_elsewhere_arrive_when_the_entry_expires(tenant_a, twilio, settings, monkeypatch):
    """Another process's save sends no signal here: the entry's lifetime bounds the staleness."""
    settings.WEBHOOK_CHANNEL_CACHE_SECONDS = 10
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    assert channel_cache.channel_for_webhook(twilio.webhook_id).is_active
    with tenant_a.scope():
        Channel.objects.filter(pk=twilio.pk).update(is_active=False)  # sends no signal
    now[0] += 9
    assert channel_cache.channel_for_webhook(twilio.webhook_id).is_active
    now[0] += 2
    assert not channel_cache.channel_for_webhook(twilio.webhook_id).is_active


def test_a_request_changing_its_copy_does_not_change_the_cached_channel(twilio):
    mine = channel_cache.channel_for_webhook(twilio.webhook_id)
    mine.webhook_secret = "tampered"
    mine.organization.default_region = "FR"
    mine.credentials["auth_token"] = "tampered"
    again = channel_cache.channel_for_webhook(twilio.webhook_id)
    assert again.webhook_secret == TWILIO_TOKEN
    assert again.organization.default_region != "FR"
    assert again.credentials["auth_token"] == TWILIO_TOKEN


def test_unknown_ids_are_not_cached(db):
    before = len(channel_cache._entries)
    for _ in range(20):
        assert channel_cache.channel_for_webhook(uuid.uuid4()) is None
    assert len(channel_cache._entries) == before


def test_a_zero_lifetime_turns_the_cache_off(twilio, settings, django_assert_num_queries):
    settings.WEBHOOK_CHANNEL_CACHE_SECONDS = 0
    channel_cache.channel_for_webhook(twilio.webhook_id)
    with django_assert_num_queries(1):
        channel_cache.channel_for_webhook(twilio.webhook_id)


@pytest.mark.django_db(transaction=True)
def test_a_read_of_the_old_row_during_the_change_is_not_kept_after_commit(tenant_a):
    """Another thread of this process looks the channel up between the save and the commit: it
    reads the old committed row; the commit must still drop what it cached."""
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
        seen = []

        def look_up():
            seen.append(channel_cache.channel_for_webhook(channel.webhook_id).credentials["auth_token"])
            connection.close()

        with transaction.atomic():
            channel.credentials = {**channel.credentials, "auth_token": "rotated-token"}
            channel.save()
            reader = threading.Thread(target=look_up)
            reader.start()
            reader.join()
        assert seen == [TWILIO_TOKEN]  # the old row, as committed at the time
        now = channel_cache.channel_for_webhook(channel.webhook_id)
        assert now.credentials["auth_token"] == "rotated-token"
