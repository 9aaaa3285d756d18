"""Sending through the official twilio SDK, pointed at the fake Twilio API."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from messaging.providers import (
    ChannelConfig,
    InteractiveMessage,
    MessageTemplate,
    OutboundMessage,
    ReplyButton,
    SendOutcome,
)
from messaging.providers.twilio import BaseUrlHttpClient, TwilioBackend
from tests.fakes import FakeTwilio

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "f3b1c8e2a9d04e6b7c5a1d2e3f4a5b6c"
SENDER = "+14155550100"
PATIENT = "+14155550199"
SERVICE_SID = "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"
STATUS_URL = "https://app.example.com/webhooks/twilio/status/"


@pytest.fixture
def fake():
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def backend(fake):
    return TwilioBackend(api_base_url=fake.api_base_url, timeout=5)


def channel(**overrides) -> ChannelConfig:
    values = {
        "key": "twilio",
        "address": SENDER,
        "credentials": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        "status_callback_url": STATUS_URL,
    }
    values.update(overrides)
    return ChannelConfig(**values)


def test_sms_is_accepted_and_returns_the_sid_twilio_created(backend, fake):
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="Your order #42 is ready"))
    assert result.outcome is SendOutcome.ACCEPTED
    assert result.provider_message_id == fake.created_sids[-1]
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34
    assert result.raw_status == "queued"


def test_sms_request_carries_the_exact_form_fields(backend, fake):
    backend.send(channel(), OutboundMessage(to=PATIENT, body="Your order #42 is ready"))
    request = fake.last_request
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.form == {
        "To": [PATIENT],
        "From": [SENDER],
        "Body": ["Your order #42 is ready"],
        "StatusCallback": [STATUS_URL],
    }


def test_messaging_service_sid_is_sent_instead_of_from(backend, fake):
    result = backend.send(channel(address=SERVICE_SID), OutboundMessage(to=PATIENT, body="hi"))
    assert result.raw_status == "accepted"
    assert fake.last_request.field("MessagingServiceSid") == SERVICE_SID
    assert fake.last_request.field("From") is None


def test_mms_sends_every_media_url(backend, fake):
    urls = ["https://app.example.com/a.jpg", "https://app.example.com/b.pdf"]
    backend.send(channel(), OutboundMessage(to=PATIENT, body="Forms", media_urls=urls))
    assert fake.last_request.form["MediaUrl"] == urls


def test_whatsapp_prefixes_both_addresses(backend, fake):
    result = backend.send(channel(is_whatsapp=True), OutboundMessage(to=PATIENT, body="Hi"))
    assert result.accepted
    assert fake.last_request.field("To") == f"whatsapp:{PATIENT}"
    assert fake.last_request.field("From") == f"whatsapp:{SENDER}"


def test_template_sends_content_sid_and_json_variables_without_body(backend, fake):
    template = MessageTemplate(name="HX0123456789abcdef0123456789abcdef", parameters=["Sheena", "#42"])
    message = OutboundMessage(to=PATIENT, body="ignored", media_urls=["https://x/y.png"], template=template)
    backend.send(channel(is_whatsapp=True), message)
    request = fake.last_request
    assert request.field("ContentSid") == "HX0123456789abcdef0123456789abcdef"
    assert json.loads(request.field("ContentVariables")) == {"1": "Sheena", "2": "#42"}
    assert request.field("Body") is None and request.field("MediaUrl") is None


def test_named_template_variables_pass_through(backend, fake):
    template = MessageTemplate(name="HX" + "1" * 32, parameters={"first_name": "Sheena"})
    backend.send(channel(), OutboundMessage(to=PATIENT, template=template))
    assert json.loads(fake.last_request.field("ContentVariables")) == {"first_name": "Sheena"}


def test_rate_limit_is_retry_later_with_retry_after(backend, fake):
    fake.fail_next(status=429, retry_after=7)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert result.outcome is SendOutcome.RETRY_LATER
    assert (result.error_code, result.retry_after, result.http_status) == ("20429", 7.0, 429)


def test_server_error_is_retry_later(backend, fake):
    fake.fail_next(status=500)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "20500")


def test_send_after_failures_succeeds_again(backend, fake):
    fake.fail_next(2, status=503)
    outcomes = [backend.send(channel(), OutboundMessage(to=PATIENT, body="hi")).outcome for _ in range(3)]
    assert outcomes == [SendOutcome.RETRY_LATER, SendOutcome.RETRY_LATER, SendOutcome.ACCEPTED]


def test_unreachable_api_is_retry_later(backend, fake):
    fake.stop()
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "connection_error")


def test_slow_api_times_out_as_retry_later(fake):
    fake.delay_seconds = 1.0
    backend = TwilioBackend(api_base_url=fake.api_base_url, timeout=0.2)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "timeout")


def test_opted_out_recipient_is_opted_out(backend, fake):
    fake.opted_out.add(PATIENT)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.OPTED_OUT, "21610")
    assert "STOP" in result.error_message


def test_invalid_number_is_permanent_and_not_echoed(backend, fake):
    result = backend.send(channel(), OutboundMessage(to="+1asd555", body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "21211")
    assert "+1asd555" not in result.error_message


def test_unknown_error_text_is_redacted_of_numbers_and_body(backend, fake):
    fake.fail_next(
        status=400,
        code=21999,
        message=f"Cannot send 'Secret results ready' to {PATIENT} or +1 (415) 555-0123",
    )
    message = OutboundMessage(to=PATIENT, body="Secret results ready")
    result = backend.send(channel(), message)
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error_code == "21999"
    for secret in (PATIENT, "Secret results ready", "555-0123"):
        assert secret not in result.error_message
    assert "Cannot send" in result.error_message


def test_whatsapp_outside_the_window_needs_a_template(backend, fake):
    fake.outside_window.add(PATIENT)
    result = backend.send(channel(is_whatsapp=True), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.WINDOW_CLOSED, "63016")
    template = MessageTemplate(name="HX" + "2" * 32, parameters=["Sheena"])
    again = backend.send(channel(is_whatsapp=True), OutboundMessage(to=PATIENT, template=template))
    assert again.accepted


def test_wrong_credentials_are_permanent_with_a_clear_message(backend, fake):
    config = channel(credentials={"account_sid": ACCOUNT_SID, "auth_token": "wrong"})
    result = backend.send(config, OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "20003")
    assert "credentials" in result.error_message
    assert AUTH_TOKEN not in result.error_message and "wrong" not in result.error_message


def test_missing_credentials_never_fall_back_to_the_environment(backend, fake, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    result = backend.send(channel(credentials={}), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "missing_credentials")
    assert fake.requests == []


def test_twilio_edge_and_region_in_the_environment_do_not_reroute(backend, fake, monkeypatch):
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert result.accepted
    assert len(fake.requests) == 1


def test_interactive_messages_are_refused_before_any_request(backend, fake):
    interactive = InteractiveMessage(body="Pick", buttons=[ReplyButton("a", "A")])
    result = backend.send(channel(), OutboundMessage(to=PATIENT, interactive=interactive))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "unsupported_content")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Messages.json"),
        ("http://fake.local/twilio/", "http://fake.local/twilio/2010-04-01/Accounts/AC1/Messages.json"),
        ("https://api.twilio.com", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"),
    ],
)
def test_http_client_rewrites_scheme_host_and_prefix(base, expected):
    client = BaseUrlHttpClient(base, timeout=1)
    assert (
        client.rewrite("https://api.sydney.au1.twilio.com/2010-04-01/Accounts/AC1/Messages.json") == expected
    )


def test_sdk_client_ignores_edge_region_and_credentials_from_the_environment(monkeypatch):
    for name, value in [
        ("TWILIO_EDGE", "sydney"),
        ("TWILIO_REGION", "au1"),
        ("TWILIO_ACCOUNT_SID", "AC" + "9" * 32),
        ("TWILIO_AUTH_TOKEN", "env"),
    ]:
        monkeypatch.setenv(name, value)
    backend = TwilioBackend()
    client = backend.client_for(ACCOUNT_SID, AUTH_TOKEN, backend._http_client())
    assert not client.edge and not client.region
    assert client.auth == (ACCOUNT_SID, AUTH_TOKEN)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert client.get_hostname(url) == url


def test_a_thread_reuses_its_client_per_credentials_and_a_new_token_gets_a_new_one():
    backend = TwilioBackend()
    http_client = backend._http_client()
    client = backend.client_for(ACCOUNT_SID, AUTH_TOKEN, http_client)
    assert backend.client_for(ACCOUNT_SID, AUTH_TOKEN, http_client) is client
    rotated = backend.client_for(ACCOUNT_SID, "rotated-token", http_client)
    assert rotated is not client and rotated.auth == (ACCOUNT_SID, "rotated-token")
    other_thread: list = []
    worker = threading.Thread(target=lambda: other_thread.append(
        backend.client_for(ACCOUNT_SID, AUTH_TOKEN, backend._http_client())))
    worker.start()
    worker.join()
    assert other_thread[0] is not client  # clients (and their connections) are per thread


def test_rfc9457_problem_details_errors_are_classified_too(backend, fake):
    fake.fail_next(
        status=400,
        body={
            "type": "https://www.twilio.com/docs/errors/21610",
            "title": "Attempt to send to unsubscribed recipient",
            "status": 400,
            "code": 21610,
            "detail": f"{PATIENT} has opted out",
        },
    )
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.OPTED_OUT, "21610")
    assert PATIENT not in result.error_message


def test_a_proxy_html_error_page_is_retry_later(backend, fake):
    fake.fail_next(status=502, body=b"<html><body>Bad Gateway</body></html>")
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.http_status) == (SendOutcome.RETRY_LATER, 502)


def test_a_proxy_in_the_environment_is_still_used(fake, monkeypatch):
    # The client reads the proxy variables once, when it is made (requests would on every send).
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    backend = TwilioBackend(api_base_url=fake.api_base_url, timeout=2)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "connection_error")
    assert fake.requests == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = TwilioBackend(api_base_url=fake.api_base_url, timeout=2)
    assert direct.send(channel(), OutboundMessage(to=PATIENT, body="hi")).outcome is SendOutcome.ACCEPTED


def test_the_sdk_logs_no_phone_number(backend, fake, caplog):
    # Twilio's HTTP client logs each request's query at INFO; a Messages look-up filters by To.
    import datetime
    import logging

    caplog.set_level(logging.DEBUG)
    backend.send(channel(), OutboundMessage(to=PATIENT, body="Your results are ready"))
    backend.find_sent(channel(), OutboundMessage(to=PATIENT, body="Your results are ready"),
                      sent_after=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1))
    assert [r for r in fake.requests if r.method == "GET"]
    assert PATIENT not in caplog.text and "results" not in caplog.text
