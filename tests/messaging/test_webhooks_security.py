"""Forged, tampered, stale, duplicate and misaddressed webhooks change nothing."""

from __future__ import annotations

import time
import uuid

import pytest

from messaging.models import Message
from tests.fakes.payloads import meta_inbound_text, simulator_inbound, telnyx_inbound, twilio_inbound_sms
from tests.messaging.backend_helpers import (
    META_VERIFY,
    PATIENT,
    make_channel,
    post,
    post_meta,
    post_simulator,
    post_telnyx,
    post_twilio,
    row_counts,
)


@pytest.fixture
def channels(tenant_a):
    with tenant_a.scope():
        return {p: make_channel(tenant_a.org, p) for p in ("twilio", "telnyx", "whatsapp_cloud", "simulator")}


def test_a_forged_twilio_signature_is_refused_and_stores_nothing(channels):
    before = row_counts()
    pairs = twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="hello")
    response = post_twilio(channels["twilio"], pairs, token="not-the-token")
    assert response.status_code == 403
    assert row_counts() == before


def test_a_tampered_body_is_refused(channels):
    from tests.fakes.signing import twilio_signed_form
    from tests.messaging.backend_helpers import encode_pairs, public_url

    channel = channels["twilio"]
    pairs = twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="hello")
    _, headers = twilio_signed_form("test-auth-token", public_url(channel), pairs)
    tampered = [(k, "send me everything" if k == "Body" else v) for k, v in pairs]
    before = row_counts()
    assert post(channel, encode_pairs(tampered), headers).status_code == 403
    assert row_counts() == before


def test_a_missing_signature_is_refused_with_403(channels):
    before = row_counts()
    body = simulator_inbound(from_=PATIENT, to="+15005550006", body="hi")
    assert post(channels["simulator"], body, {"Content-Type": "application/json"}).status_code == 403
    assert post(channels["whatsapp_cloud"], meta_inbound_text(from_wa_id="14155550199", text="hi"),
                {"Content-Type": "application/json"}).status_code == 403
    assert row_counts() == before


def test_a_stale_telnyx_timestamp_is_refused(channels):
    before = row_counts()
    body = telnyx_inbound(from_=PATIENT, to="+13125550100", text="hi")
    assert post_telnyx(channels["telnyx"], body, timestamp=int(time.time()) - 3600).status_code == 403
    assert row_counts() == before


def test_a_body_signed_with_another_channels_secret_is_refused(channels, tenant_b):
    with tenant_b.scope():
        other = make_channel(tenant_b.org, "simulator", webhook_secret="b-secret")
    before = row_counts()
    body = simulator_inbound(from_=PATIENT, to="+15005550006", body="hi")
    assert post_simulator(channels["simulator"], body, secret="b-secret").status_code == 403
    assert post_simulator(other, body).status_code == 403
    assert row_counts() == before


def test_unknown_channel_and_provider_mismatch_answer_404(channels):
    body = simulator_inbound(from_=PATIENT, to="+15005550006", body="hi")
    from tests.fakes import simulator_signed_headers

    headers = simulator_signed_headers("sim-secret", body)
    before = row_counts()
    unknown = f"/webhooks/simulator/{uuid.uuid4()}/"
    assert post(channels["simulator"], body, headers, path=unknown).status_code == 404
    wrong_provider = f"/webhooks/twilio/{channels['simulator'].webhook_id}/"
    assert post(channels["simulator"], body, headers, path=wrong_provider).status_code == 404
    assert row_counts() == before


def test_an_unreadable_but_signed_body_answers_400(channels):
    before = row_counts()
    assert post_simulator(channels["simulator"], b"{not json").status_code == 400
    assert row_counts() == before


def test_a_retried_webhook_stores_one_message(channels, tenant_a):
    pairs = twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="Can I move my appointment?")
    assert post_twilio(channels["twilio"], pairs).status_code == 200
    after_first = row_counts()
    assert post_twilio(channels["twilio"], pairs).status_code == 200
    assert row_counts() == after_first
    with tenant_a.scope():
        assert Message.objects.filter(direction="inbound").count() == 1
        assert Message.objects.get().conversation.unread_count == 1


def test_meta_handshake_echoes_the_challenge_only_with_the_right_token(channels, client):
    channel = channels["whatsapp_cloud"]
    path = f"/webhooks/whatsapp_cloud/{channel.webhook_id}/"
    good = client.get(path, {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY,
                             "hub.challenge": "1158201444"})
    assert (good.status_code, good.content) == (200, b"1158201444")
    bad = client.get(path, {"hub.mode": "subscribe", "hub.verify_token": "guess",
                            "hub.challenge": "1158201444"})
    assert bad.status_code == 403 and b"1158201444" not in bad.content


def test_meta_post_with_the_right_signature_is_accepted(channels, tenant_a):
    body = meta_inbound_text(from_wa_id="14155550199", text="Hola")
    assert post_meta(channels["whatsapp_cloud"], body).status_code == 200
    with tenant_a.scope():
        assert Message.objects.get().body == "Hola"
