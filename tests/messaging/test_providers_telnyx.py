"""Sending through Telnyx's Messaging API v2, against the fake Telnyx API."""

from __future__ import annotations

import pytest

from messaging.providers import ChannelConfig, MessageTemplate, OutboundMessage, SendOutcome
from messaging.providers.telnyx import TelnyxBackend
from tests.fakes import FakeTelnyx

API_KEY = "KEY0190_test"
SENDER = "+13125550100"
PATIENT = "+13125550123"
STATUS_URL = "https://app.example.com/webhooks/telnyx/"


@pytest.fixture
def fake():
    with FakeTelnyx(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def backend(fake):
    return TelnyxBackend(api_base_url=fake.api_base_url, timeout=5)


def channel(**overrides) -> ChannelConfig:
    values = {
        "key": "telnyx",
        "address": SENDER,
        "credentials": {"api_key": API_KEY},
        "status_callback_url": STATUS_URL,
    }
    values.update(overrides)
    return ChannelConfig(**values)


def test_sms_is_accepted_with_the_message_id_telnyx_returned(backend, fake):
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="Your order #42 is ready."))
    assert result.outcome is SendOutcome.ACCEPTED
    assert result.provider_message_id == fake.created_ids[-1]
    assert (result.raw_status, result.http_status) == ("queued", 200)


def test_request_is_bearer_json_with_the_documented_fields(backend, fake):
    backend.send(channel(), OutboundMessage(to=PATIENT, body="Your order #42 is ready."))
    request = fake.last_request
    assert (request.method, request.path) == ("POST", "/v2/messages")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "from": SENDER,
        "to": PATIENT,
        "text": "Your order #42 is ready.",
        "webhook_url": STATUS_URL,
        "use_profile_webhooks": False,
    }
    assert "idempotency-key" not in request.headers


def test_mms_number_pool_and_idempotency_key(backend, fake):
    config = channel(
        address="",
        status_callback_url="",
        credentials={"api_key": API_KEY, "messaging_profile_id": "740572b6-pool"},
    )
    message = OutboundMessage(
        to=PATIENT, body="Photo", media_urls=["https://x/a.jpg"], idempotency_key="msg_42:attempt"
    )
    assert backend.send(config, message).accepted
    request = fake.last_request
    assert request.json == {
        "to": PATIENT,
        "messaging_profile_id": "740572b6-pool",
        "text": "Photo",
        "media_urls": ["https://x/a.jpg"],
    }
    assert request.headers["idempotency-key"] == "msg_42:attempt"


@pytest.mark.parametrize("http_status", [400, 403, 409, 422])
def test_stop_code_40300_is_opted_out_whatever_the_http_status(backend, fake, http_status):
    fake.opted_out.add(PATIENT)
    fake.opted_out_status = http_status
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.OPTED_OUT, "40300")
    assert result.http_status == http_status


def test_invalid_number_is_permanent(backend, fake):
    result = backend.send(channel(), OutboundMessage(to="3125550123", body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "40310")
    assert "3125550123" not in result.error_message


def test_rate_limit_is_retry_later_with_retry_after(backend, fake):
    fake.fail_next(status=429, retry_after=12)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code, result.retry_after) == (SendOutcome.RETRY_LATER, "10011", 12.0)


def test_queue_full_40318_is_retry_later(backend, fake):
    fake.fail_next(status=400, code="40318", message="Message queue full")
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "40318")


def test_server_error_is_retry_later(backend, fake):
    fake.fail_next(status=500)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code, result.retry_after) == (SendOutcome.RETRY_LATER, "10007", None)


def test_unreachable_api_is_retry_later(backend, fake):
    fake.stop()
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "connection_error")


def test_slow_api_times_out_as_retry_later(fake):
    fake.delay_seconds = 1.0
    result = TelnyxBackend(api_base_url=fake.api_base_url, timeout=0.2).send(
        channel(), OutboundMessage(to=PATIENT, body="hi")
    )
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "timeout")


def test_wrong_api_key_is_permanent(backend, fake):
    result = backend.send(channel(credentials={"api_key": "nope"}), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "10009")


def test_templates_are_refused_before_any_request(backend, fake):
    message = OutboundMessage(to=PATIENT, template=MessageTemplate(name="order_ready"))
    result = backend.send(channel(), message)
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "unsupported_content")
    assert fake.requests == []


def test_missing_api_key_is_permanent_without_a_request(backend, fake):
    result = backend.send(channel(credentials={}), OutboundMessage(to=PATIENT, body="hi"))
    assert result.error_code == "missing_credentials"
    assert fake.requests == []


def test_a_proxy_html_error_page_is_retry_later(backend, fake):
    fake.fail_next(status=502, body=b"<html><body>Bad Gateway</body></html>")
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "502")
    assert result.error_message == "Telnyx answered HTTP 502."


def test_inbound_media_is_fetched_from_its_signed_url_without_the_api_key(backend, fake):
    from messaging.providers.messages import InboundMedia

    fake.media["m1"] = (b"\xff\xd8\xff" + b"\0" * 100, "image/jpeg")
    wanted = InboundMedia(url=fake.media_url("m1"), content_type="image/jpeg")
    fetched = backend.fetch_media(channel(), wanted)
    assert (fetched.content[:3], fetched.content_type) == (b"\xff\xd8\xff", "image/jpeg")
    assert "authorization" not in fake.last_request.headers


def test_inbound_media_with_a_bad_or_expired_signature_is_refused(backend, fake):
    from messaging.providers.media import MediaUnavailable
    from messaging.providers.messages import InboundMedia

    fake.media["m1"] = (b"\0" * 64, "image/png")
    for url in (fake.media_url("m1").split("?")[0], fake.media_url("m1", expires_in=-1)):
        with pytest.raises(MediaUnavailable):
            backend.fetch_media(channel(), InboundMedia(url=url))
    assert [r.path for r in fake.requests] == ["/media/1d7a1f8e-3c2b-4e90-8f6a-5b4c3d2e1f00/m1"] * 2
