"""Every payload in shared/providers/samples/ parses to the right messages and statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from messaging.providers import (
    ChannelConfig,
    MessageStatus,
    ReplyKind,
    SendOutcome,
    WebhookPayloadError,
    WhatsAppReply,
)
from messaging.providers.telnyx import TelnyxBackend
from messaging.providers.twilio import EMPTY_TWIML, TwilioBackend
from messaging.providers.whatsapp_cloud import WhatsAppCloudBackend
from tests.fakes.requests import webhook_request
from tests.fakes.shared_data import sample_bytes, shared_path

TWILIO = ChannelConfig(key="twilio", address="MG9f8e7d6c5b4a39281706f5e4d3c2b1a0")
TELNYX = ChannelConfig(key="telnyx", address="+13125550100")
META = ChannelConfig(key="whatsapp_cloud", address="106540352242922")

PARSED_ELSEWHERE = {  # request samples are what we send; test_providers_whatsapp_cloud uses them
    "whatsapp_send_interactive_buttons_request.json",
    "whatsapp_send_interactive_list_request.json",
    "whatsapp_send_template_request.json",
}


def parse(backend, config, name):
    return backend.parse_webhook(config, webhook_request(headers={}, body=sample_bytes(name), form=None))


def only_inbound(batch):
    assert not batch.statuses
    assert len(batch.inbound) == 1
    return batch.inbound[0]


def only_status(batch):
    assert not batch.inbound
    assert len(batch.statuses) == 1
    return batch.statuses[0]


def test_every_sample_file_is_covered_by_a_test():
    covered = {name for name, _ in SAMPLE_TESTS} | PARSED_ELSEWHERE
    on_disk = {path.name for path in shared_path("samples").iterdir()}
    assert on_disk == covered


# ---------------------------------------------------------------- Twilio
def check_twilio_inbound_sms():
    batch = parse(TwilioBackend(), TWILIO, "twilio_inbound_sms.txt")
    message = only_inbound(batch)
    assert message.provider_message_id == "SM3b1c6f0a9e2d4c7b8a5f1e0d9c8b7a61"
    assert (message.from_address, message.from_is_phone) == ("+14155550199", True)
    assert message.to_address == "+14155550100"
    assert message.body == "Hi! Is my order #42 ready?"
    assert message.media == [] and message.whatsapp_reply is None
    assert message.received_at is not None
    assert batch.reply == (200, "text/xml", EMPTY_TWIML)
    assert b"<Response/>" in batch.reply.body


def check_twilio_inbound_whatsapp_button():
    message = only_inbound(parse(TwilioBackend(), TWILIO, "twilio_inbound_whatsapp_button.txt"))
    assert message.provider_message_id == "SM5c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f"
    assert message.from_address == "+16505551234"  # whatsapp: prefix stripped
    assert message.to_address == "+14155550100"
    assert message.body == "Track order"
    assert message.profile_name == "Sheena Nelson"
    assert message.whatsapp_reply == WhatsAppReply(ReplyKind.QUICK_REPLY, "TRACK_ORDER_42", "Track order")


def check_twilio_status_callback():
    batch = parse(TwilioBackend(), TWILIO, "twilio_status_callback.txt")
    update = only_status(batch)
    assert update.provider_message_id == "SM7e2d4c1b0a9f48e6b5d3c2a1f0e9d8c7"
    assert (update.status, update.raw_status) == (MessageStatus.DELIVERED, "delivered")
    assert update.dedupe_key == "SM7e2d4c1b0a9f48e6b5d3c2a1f0e9d8c7:delivered"
    assert (update.error_code, update.failure_outcome) == ("", None)
    assert update.implies_delivered
    assert batch.reply.status == 200 and batch.reply.body == b""


def check_twilio_status_callback_undelivered():
    update = only_status(parse(TwilioBackend(), TWILIO, "twilio_status_callback_undelivered.txt"))
    assert (update.status, update.raw_status) == (MessageStatus.UNDELIVERED, "undelivered")
    assert update.error_code == "30003"
    assert update.error_message == "Unreachable destination handset."
    assert update.failure_outcome is SendOutcome.PERMANENT_FAILURE
    assert update.dedupe_key == "SM7e2d4c1b0a9f48e6b5d3c2a1f0e9d8c7:undelivered"


# ---------------------------------------------------------------- Telnyx
def check_telnyx_inbound_message():
    batch = parse(TelnyxBackend(), TELNYX, "telnyx_inbound_message.json")
    message = only_inbound(batch)
    assert message.provider_message_id == "84cca175-9755-4859-b67a-4730d4b8d3b1"
    assert message.from_address == "+13125550123"
    assert message.to_address == "+13125550100"
    assert message.body == "Hi! Is my order #42 ready?"
    assert message.received_at == datetime(2025, 1, 15, 18, 2, 11, 13000, tzinfo=UTC)
    assert message.media == []
    assert batch.reply.status == 200


def check_telnyx_inbound_mms():
    message = only_inbound(parse(TelnyxBackend(), TELNYX, "telnyx_inbound_mms.json"))
    assert message.provider_message_id == "1d7a1f8e-3c2b-4e90-8f6a-5b4c3d2e1f00"
    assert message.body == "Here is the damaged box"
    assert [(m.url, m.content_type) for m in message.media] == [
        ("https://media.telnyx.example/inbound/1d7a1f8e/photo.jpg", "image/jpeg")
    ]


def check_telnyx_message_sent():
    update = only_status(parse(TelnyxBackend(), TELNYX, "telnyx_message_sent.json"))
    assert update.provider_message_id == "40385f64-5717-4562-b3fc-2c963f66afa6"
    assert (update.status, update.raw_status) == (MessageStatus.SENT, "sent")
    assert update.dedupe_key == "86f58db9-0fe3-4adc-9d1f-46e66e6e9323"
    assert update.occurred_at == datetime(2025, 1, 15, 18, 10, 2, 574000, tzinfo=UTC)


def check_telnyx_message_finalized():
    update = only_status(parse(TelnyxBackend(), TELNYX, "telnyx_message_finalized.json"))
    assert update.provider_message_id == "40385f64-5717-4562-b3fc-2c963f66afa6"
    assert (update.status, update.raw_status) == (MessageStatus.DELIVERED, "delivered")
    assert update.dedupe_key == "4ee8c3a6-4995-4309-a3c6-38e3db9ea4be"
    assert update.error_code == "" and update.failure_outcome is None


def check_telnyx_message_finalized_failed():
    update = only_status(parse(TelnyxBackend(), TELNYX, "telnyx_message_finalized_failed.json"))
    assert update.provider_message_id == "9b2e4f60-1a7c-4d3e-8b5f-6c7d8e9f0a1b"
    assert (update.status, update.raw_status) == (MessageStatus.UNDELIVERED, "delivery_failed")
    assert update.error_code == "40008"
    assert update.error_message.startswith("Undeliverable")
    assert update.failure_outcome is SendOutcome.PERMANENT_FAILURE
    assert update.dedupe_key == "c1a9f0e2-7b3d-4c58-9e21-0f8d7c6b5a43"


# ---------------------------------------------------------------- WhatsApp Cloud
def check_whatsapp_inbound_text():
    message = only_inbound(parse(WhatsAppCloudBackend(), META, "whatsapp_inbound_text.json"))
    assert message.provider_message_id == ("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
    assert (message.from_address, message.from_is_phone) == ("+16505551234", True)
    assert message.to_address == "106540352242922"  # the channel's phone-number id
    assert message.body == "Hi! Is my order #42 ready?"
    assert message.profile_name == "Sheena Nelson"
    assert message.received_at == datetime.fromtimestamp(1736964131, tz=UTC)
    assert message.whatsapp_reply is None


def check_whatsapp_inbound_button_reply():
    message = only_inbound(parse(WhatsAppCloudBackend(), META, "whatsapp_inbound_button_reply.json"))
    assert message.whatsapp_reply == WhatsAppReply(
        ReplyKind.BUTTON_REPLY, "confirm_pickup:42", "Confirm pickup"
    )
    assert message.body == "Confirm pickup"
    assert message.reply_to_provider_message_id == (
        "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI0QzlCQjM5RjA2RjU0NjA4QjcA"
    )


def check_whatsapp_inbound_list_reply():
    message = only_inbound(parse(WhatsAppCloudBackend(), META, "whatsapp_inbound_list_reply.json"))
    assert message.whatsapp_reply == WhatsAppReply(ReplyKind.LIST_REPLY, "slot_2025-01-16T10:00", "Thu 10:00")
    assert message.body == "Thu 10:00"
    assert message.provider_message_id.startswith("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwNjY4")


def check_whatsapp_inbound_template_quick_reply():
    message = only_inbound(parse(WhatsAppCloudBackend(), META, "whatsapp_inbound_template_quick_reply.json"))
    assert message.whatsapp_reply == WhatsAppReply(ReplyKind.QUICK_REPLY, "TRACK_ORDER_42", "Track order")
    assert message.body == "Track order"
    assert message.from_address == "+16505551234"


def check_whatsapp_status_delivered():
    update = only_status(parse(WhatsAppCloudBackend(), META, "whatsapp_status_delivered.json"))
    wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJBMjdCRTQ1QzE5RDM0QjYwRTUA"
    assert update.provider_message_id == wamid
    assert (update.status, update.raw_status) == (MessageStatus.DELIVERED, "delivered")
    assert update.dedupe_key == f"{wamid}:delivered"
    assert update.occurred_at == datetime.fromtimestamp(1736964905, tz=UTC)


def check_whatsapp_status_failed():
    update = only_status(parse(WhatsAppCloudBackend(), META, "whatsapp_status_failed.json"))
    assert (update.status, update.raw_status) == (MessageStatus.FAILED, "failed")
    assert update.error_code == "131047"
    assert "24 hours" in update.error_message
    assert update.failure_outcome is SendOutcome.WINDOW_CLOSED


SAMPLE_TESTS = [
    ("twilio_inbound_sms.txt", check_twilio_inbound_sms),
    ("twilio_inbound_whatsapp_button.txt", check_twilio_inbound_whatsapp_button),
    ("twilio_status_callback.txt", check_twilio_status_callback),
    ("twilio_status_callback_undelivered.txt", check_twilio_status_callback_undelivered),
    ("telnyx_inbound_message.json", check_telnyx_inbound_message),
    ("telnyx_inbound_mms.json", check_telnyx_inbound_mms),
    ("telnyx_message_sent.json", check_telnyx_message_sent),
    ("telnyx_message_finalized.json", check_telnyx_message_finalized),
    ("telnyx_message_finalized_failed.json", check_telnyx_message_finalized_failed),
    ("whatsapp_inbound_text.json", check_whatsapp_inbound_text),
    ("whatsapp_inbound_button_reply.json", check_whatsapp_inbound_button_reply),
    ("whatsapp_inbound_list_reply.json", check_whatsapp_inbound_list_reply),
    ("whatsapp_inbound_template_quick_reply.json", check_whatsapp_inbound_template_quick_reply),
    ("whatsapp_status_delivered.json", check_whatsapp_status_delivered),
    ("whatsapp_status_failed.json", check_whatsapp_status_failed),
]


@pytest.mark.parametrize(("name", "check"), SAMPLE_TESTS, ids=[n for n, _ in SAMPLE_TESTS])
def test_sample_parses_to_the_expected_fields(name, check):
    check()


# ---------------------------------------------------------------- edge cases around samples
def meta_sample() -> dict:
    return json.loads(sample_bytes("whatsapp_inbound_text.json"))


def parse_meta(payload: dict):
    body = json.dumps(payload).encode()
    return WhatsAppCloudBackend().parse_webhook(META, webhook_request(headers={}, body=body, form=None))


def test_whatsapp_bsuid_sender_without_from_does_not_crash():
    payload = meta_sample()
    value = payload["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["contacts"] = [{"profile": {"name": "Sheena"}, "user_id": "US.13491208655302741918"}]
    message = only_inbound(parse_meta(payload))
    assert (message.from_address, message.from_is_phone) == ("US.13491208655302741918", False)
    assert message.profile_name == "Sheena"


def test_whatsapp_loops_over_every_entry_and_change():
    payload = meta_sample()
    entry = payload["entry"][0]
    second = json.loads(json.dumps(entry["changes"][0]))
    second["value"]["messages"][0]["id"] = "wamid.second"
    entry["changes"].append(second)
    payload["entry"].append(json.loads(json.dumps(entry)))
    payload["entry"][1]["changes"][0]["value"]["messages"][0]["id"] = "wamid.third"
    ids = [m.provider_message_id for m in parse_meta(payload).inbound]
    assert len(ids) == 4 and {"wamid.second", "wamid.third"} <= set(ids)


def test_whatsapp_media_message_gets_a_placeholder_body_and_the_media_id():
    payload = meta_sample()
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update(type="image", image={"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc"})
    parsed = only_inbound(parse_meta(payload))
    assert parsed.body == "[image]"
    assert [(m.provider_media_id, m.content_type) for m in parsed.media] == [
        ("1479537139650973", "image/jpeg")
    ]


def test_whatsapp_read_status_implies_delivered_and_unknown_statuses_are_skipped():
    payload = json.loads(sample_bytes("whatsapp_status_delivered.json"))
    statuses = payload["entry"][0]["changes"][0]["value"]["statuses"]
    statuses[0]["status"] = "read"
    statuses.append({**statuses[0], "status": "deleted"})
    update = only_status(parse_meta(payload))
    assert update.status is MessageStatus.READ and update.implies_delivered


def test_whatsapp_changes_for_other_fields_are_ignored():
    payload = meta_sample()
    payload["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    batch = parse_meta(payload)
    assert not batch.inbound and not batch.statuses


def test_twilio_bsuid_sender_is_kept_as_is():
    form = [
        ("MessageSid", "SM" + "1" * 32),
        ("From", "whatsapp:US.1234"),
        ("To", "whatsapp:+14155550100"),
        ("Body", "hi"),
        ("ExternalUserId", "whatsapp:US.1234"),
    ]
    message = only_inbound(TwilioBackend().parse_webhook(TWILIO, webhook_request(form=form)))
    assert (message.from_address, message.from_is_phone) == ("US.1234", False)


def test_twilio_inbound_mms_lists_each_media_item():
    form = [
        ("MessageSid", "MM" + "1" * 32),
        ("From", "+14155550199"),
        ("To", "+14155550100"),
        ("Body", ""),
        ("NumMedia", "2"),
        ("MediaUrl0", "https://m/0"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://m/1"),
        ("MediaContentType1", "application/pdf"),
    ]
    message = only_inbound(TwilioBackend().parse_webhook(TWILIO, webhook_request(form=form)))
    assert [(m.url, m.content_type) for m in message.media] == [
        ("https://m/0", "image/jpeg"),
        ("https://m/1", "application/pdf"),
    ]


def test_twilio_async_opt_out_is_classified_as_opted_out():
    form = [("MessageSid", "SM" + "2" * 32), ("MessageStatus", "failed"), ("ErrorCode", "21610")]
    update = only_status(TwilioBackend().parse_webhook(TWILIO, webhook_request(form=form)))
    assert update.status is MessageStatus.FAILED
    assert update.failure_outcome is SendOutcome.OPTED_OUT


@pytest.mark.parametrize(
    ("backend", "body"),
    [
        (TelnyxBackend(), b"not json"),
        (WhatsAppCloudBackend(), b"[1, 2]"),
        (TelnyxBackend(), b'{"data":{"event_type":"message.received","payload":{}}}'),
        (TwilioBackend(), b"Body=hello"),
    ],
)
def test_unreadable_payloads_raise_webhook_payload_error(backend, body):
    with pytest.raises(WebhookPayloadError):
        backend.parse_webhook(META, webhook_request(headers={}, body=body, form=None))


def test_telnyx_events_we_do_not_handle_give_an_empty_batch():
    body = b'{"data":{"event_type":"number_order.complete","id":"e1","payload":{}}}'
    batch = TelnyxBackend().parse_webhook(TELNYX, webhook_request(headers={}, body=body, form=None))
    assert (list(batch.inbound), list(batch.statuses), batch.reply.status) == ([], [], 200)
