"""Sending through Meta's WhatsApp Cloud API, against the fake Graph API."""

from __future__ import annotations

import json

import pytest

from messaging.providers import (
    ChannelConfig,
    InteractiveMessage,
    ListRow,
    ListSection,
    MessageTemplate,
    OutboundMessage,
    ReplyButton,
    SendOutcome,
    TemplateButton,
)
from messaging.providers.whatsapp_cloud import WhatsAppCloudBackend
from tests.fakes import FakeGraph
from tests.fakes.shared_data import sample_bytes

TOKEN = "EAAG-test-token"
PHONE_NUMBER_ID = "106540352242922"
PATIENT = "+16505551234"


@pytest.fixture
def fake():
    with FakeGraph(access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID) as server:
        yield server


@pytest.fixture
def backend(fake):
    return WhatsAppCloudBackend(api_base_url=fake.api_base_url, timeout=5)


def channel(**overrides) -> ChannelConfig:
    values = {
        "key": "whatsapp_cloud",
        "address": PHONE_NUMBER_ID,
        "credentials": {"access_token": TOKEN, "app_secret": "s", "verify_token": "v"},
    }
    values.update(overrides)
    return ChannelConfig(**values)


def sample(name: str) -> dict:
    return json.loads(sample_bytes(name))


def test_text_is_accepted_with_the_wamid(backend, fake):
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="Hi Sheena"))
    assert result.outcome is SendOutcome.ACCEPTED
    assert result.provider_message_id == fake.created_ids[-1]
    assert result.provider_message_id.startswith("wamid.")
    request = fake.last_request
    assert (request.method, request.path) == ("POST", f"/v21.0/{PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Hi Sheena"},
    }


def test_template_request_equals_the_sample(backend, fake):
    template = MessageTemplate(
        name="order_ready_for_pickup",
        language="en_US",
        header_parameters=[
            {"type": "image", "image": {"link": "https://app.example.com/static/orders/42.png"}}
        ],
        parameters=[
            "Sheena",
            "#42",
            {
                "type": "currency",
                "currency": {"fallback_value": "$12.99", "code": "USD", "amount_1000": 12990},
            },
        ],
        buttons=[TemplateButton(0, "quick_reply", "TRACK_ORDER_42"), TemplateButton(1, "url", "42")],
    )
    message = OutboundMessage(to=PATIENT, template=template, correlation_data="order:42")
    result = backend.send(channel(), message)
    assert (result.outcome, result.raw_status) == (SendOutcome.ACCEPTED, "accepted")
    assert fake.last_request.json == sample("whatsapp_send_template_request.json")


def test_named_template_parameters_carry_parameter_name(backend, fake):
    template = MessageTemplate(
        name="appointment_reminder", language="en", parameters={"first_name": "Sheena"}
    )
    backend.send(channel(), OutboundMessage(to=PATIENT, template=template))
    assert fake.last_request.json["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "en"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Sheena"}],
            }
        ],
    }


def test_reply_buttons_request_equals_the_sample(backend, fake):
    interactive = InteractiveMessage(
        header="Order #42",
        body="Your order is ready. Will you pick it up today?",
        footer="Reply within 24h",
        buttons=[
            ReplyButton("confirm_pickup:42", "Confirm pickup"),
            ReplyButton("reschedule:42", "Reschedule"),
        ],
    )
    assert backend.send(channel(), OutboundMessage(to=PATIENT, interactive=interactive)).accepted
    assert fake.last_request.json == sample("whatsapp_send_interactive_buttons_request.json")


def test_list_request_equals_the_sample(backend, fake):
    interactive = InteractiveMessage(
        header="Pickup slots",
        body="Choose a pickup time for order #42.",
        footer="Times are local",
        list_button="Choose slot",
        sections=[
            ListSection(
                "Downtown store",
                [
                    ListRow("slot_2025-01-16T10:00", "Thu 10:00", "Downtown store"),
                    ListRow("slot_2025-01-16T14:00", "Thu 14:00", "Downtown store"),
                ],
            )
        ],
    )
    assert backend.send(channel(), OutboundMessage(to=PATIENT, interactive=interactive)).accepted
    assert fake.last_request.json == sample("whatsapp_send_interactive_list_request.json")


@pytest.mark.parametrize(
    "interactive",
    [
        InteractiveMessage(body="Pick", buttons=[ReplyButton(str(i), f"B{i}") for i in range(4)]),
        InteractiveMessage(body="Pick", buttons=[ReplyButton("a", "x" * 21)]),
        InteractiveMessage(body="Pick", buttons=[ReplyButton("a", "A"), ReplyButton("a", "B")]),
        InteractiveMessage(body="", buttons=[ReplyButton("a", "A")]),
        InteractiveMessage(body="Pick"),
        InteractiveMessage(body="Pick", list_button="", sections=[ListSection("s", [ListRow("r", "R")])]),
        InteractiveMessage(
            body="Pick",
            list_button="Open",
            sections=[ListSection("s", [ListRow(str(i), "R") for i in range(11)])],
        ),
    ],
    ids=["4-buttons", "long-title", "duplicate-ids", "no-body", "nothing", "no-list-label", "11-rows"],
)
def test_invalid_interactive_messages_are_refused_before_any_request(backend, fake, interactive):
    result = backend.send(channel(), OutboundMessage(to=PATIENT, interactive=interactive))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "invalid_content")
    assert result.error_message
    assert fake.requests == []


def test_image_attachment_goes_by_link_with_the_body_as_caption(backend, fake):
    message = OutboundMessage(to=PATIENT, body="Your X-ray", media_urls=["https://x/scan.JPG"])
    assert backend.send(channel(), message).accepted
    body = fake.last_request.json
    assert (body["type"], body["image"]) == ("image", {"link": "https://x/scan.JPG", "caption": "Your X-ray"})


def test_outside_the_window_free_text_is_window_closed_but_a_template_goes(backend, fake):
    fake.outside_window.add(PATIENT)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.WINDOW_CLOSED, "131047")
    assert "template" in result.error_message
    template = OutboundMessage(to=PATIENT, template=MessageTemplate(name="hello_world"))
    assert backend.send(channel(), template).accepted


def test_invalid_recipient_is_permanent(backend, fake):
    result = backend.send(channel(), OutboundMessage(to="not-a-number", body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "131026")


@pytest.mark.parametrize(
    ("status", "code", "expected_code"),
    [(429, None, "130429"), (500, None, "131000"), (400, 131056, "131056"), (400, 80007, "80007")],
)
def test_throttling_and_server_errors_are_retry_later(backend, fake, status, code, expected_code):
    fake.fail_next(status=status, code=code, retry_after=3)
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, expected_code)
    assert result.retry_after == (3.0 if status == 429 else None)


def test_unreachable_api_is_retry_later(backend, fake):
    fake.stop()
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "connection_error")


def test_expired_token_is_permanent_and_says_to_reconnect(backend, fake):
    result = backend.send(
        channel(credentials={"access_token": "expired"}), OutboundMessage(to=PATIENT, body="hi")
    )
    assert (result.outcome, result.error_code) == (SendOutcome.PERMANENT_FAILURE, "190")
    assert "reconnect" in result.error_message


def test_missing_phone_number_id_is_permanent_without_a_request(backend, fake):
    result = backend.send(channel(address=""), OutboundMessage(to=PATIENT, body="hi"))
    assert result.error_code == "missing_credentials"
    assert fake.requests == []


def test_transient_graph_errors_are_retry_later(backend, fake):
    fake.fail_next(
        status=400,
        body={
            "error": {
                "message": "(#2) Service temporarily unavailable",
                "type": "OAuthException",
                "code": 1,
                "is_transient": True,
            }
        },
    )
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "1")


def test_a_proxy_html_error_page_is_retry_later(backend, fake):
    fake.fail_next(status=503, body=b"<html>Service Unavailable</html>")
    result = backend.send(channel(), OutboundMessage(to=PATIENT, body="hi"))
    assert (result.outcome, result.error_code) == (SendOutcome.RETRY_LATER, "503")
