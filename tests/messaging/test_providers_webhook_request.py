"""WebhookRequest: the raw parts a signature covers, and the body as data only on demand."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from messaging.providers import ChannelConfig, WebhookPayloadError, WebhookRequest, get_backend
from messaging.providers.webhook_request import MAX_FORM_FIELDS
from tests.fakes import twilio_signed_form


def test_headers_are_looked_up_whatever_their_case():
    headers = {"X-Twilio-Signature": "abc", "content-type": "a/b; q=1"}
    request = WebhookRequest.post("https://x/", headers=headers)
    assert request.header("x-twilio-signature") == "abc"
    assert request.header("X-TWILIO-SIGNATURE") == "abc"
    assert request.header("missing", "d") == "d"
    assert request.content_type == "a/b"


def test_the_form_keeps_order_and_every_value_of_a_repeated_field():
    request = WebhookRequest.post("https://x/", body=b"MediaUrl=a&Body=hi+there&MediaUrl=b&Empty=")
    assert request.form() == [("MediaUrl", "a"), ("Body", "hi there"), ("MediaUrl", "b"), ("Empty", "")]
    assert request.form_values() == {"MediaUrl": ["a", "b"], "Body": ["hi there"], "Empty": [""]}


def test_the_body_is_parsed_once_and_only_when_asked():
    request = WebhookRequest.post("https://x/", body=b'{"a": 1}')
    assert "json" not in request._cache  # nothing parsed by building the request
    first = request.json()
    assert first == {"a": 1} and request.json() is first


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_raises_payload_error(body):
    with pytest.raises(WebhookPayloadError):
        WebhookRequest.post("https://x/", body=body).json("Acme")


def test_a_form_body_that_is_not_utf8_or_has_too_many_fields_raises_payload_error():
    with pytest.raises(WebhookPayloadError, match="UTF-8"):
        WebhookRequest.post("https://x/", body=b"a=\xff").form()
    flood = "&".join(f"f{i}=1" for i in range(MAX_FORM_FIELDS + 1)).encode()
    with pytest.raises(WebhookPayloadError, match="too many"):
        WebhookRequest.post("https://x/", body=flood).form()


def test_query_parameters_come_from_the_signed_url():
    request = WebhookRequest.get("https://x/wa/?hub.mode=subscribe&hub.challenge=42&hub.challenge=43")
    assert request.is_get
    assert request.query("hub.mode") == "subscribe"
    assert request.query("hub.challenge") == "42"  # the first value, as Django reads it
    assert request.query("absent") == ""


def test_from_django_uses_the_public_url_and_appends_the_query_string():
    django_request = RequestFactory().get("/webhooks/x/1/?bodySHA256=ab&x=1")
    request = WebhookRequest.from_django(django_request, "https://care.example.org/webhooks/x/1/")
    assert request.url == "https://care.example.org/webhooks/x/1/?bodySHA256=ab&x=1"
    already = WebhookRequest.from_django(django_request, "https://care.example.org/p/?y=2")
    assert already.url == "https://care.example.org/p/?y=2"


def test_a_twilio_form_signed_over_repeated_parameters_verifies_from_the_raw_body():
    url = "https://care.example.org/webhooks/twilio/ch/"
    pairs = [("MessageSid", "MM1"), ("MediaUrl", "https://m/2"), ("MediaUrl", "https://m/1")]
    body, headers = twilio_signed_form("tok", url, pairs)
    config = ChannelConfig(key="twilio", address="+14155550100", credentials={"auth_token": "tok"})
    backend = get_backend("twilio")
    assert backend.verify_webhook(config, WebhookRequest.post(url, headers=headers, body=body)).ok
    [message] = backend.parse_inbound(config, WebhookRequest.post(url, headers=headers, body=body))
    assert [m.url for m in message.media] == ["https://m/2", "https://m/1"]
    tampered = body.replace(b"m%2F1", b"m%2F9")
    assert not backend.verify_webhook(config, WebhookRequest.post(url, headers=headers, body=tampered)).ok


def test_parse_status_reads_a_status_callback():
    url = "https://care.example.org/webhooks/twilio/ch/"
    body = b"MessageSid=SM1&MessageStatus=delivered"
    config = ChannelConfig(key="twilio", address="+14155550100", credentials={"auth_token": "tok"})
    [update] = get_backend("twilio").parse_status(config, WebhookRequest.post(url, body=body))
    assert (update.provider_message_id, update.status.value) == ("SM1", "delivered")
    assert get_backend("twilio").parse_inbound(config, WebhookRequest.post(url, body=body)) == []
