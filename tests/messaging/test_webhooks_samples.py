"""Every provider sample, posted to the real webhook URL with a real signature, lands in the database."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from contacts.models import Contact
from messaging.channel_config import backend_for, channel_config
from messaging.models import Conversation, Message
from tests.fakes.requests import webhook_request
from tests.fakes.shared_data import sample_bytes
from tests.messaging.backend_helpers import (
    form_pairs_of,
    make_channel,
    post_meta,
    post_telnyx,
    post_twilio,
)

INBOUND = [
    # (sample, provider, channel kind, expected text, expected reply id or None)
    ("twilio_inbound_sms.txt", "twilio", "sms", "Hi! Is my order #42 ready?", None),
    ("twilio_inbound_whatsapp_button.txt", "twilio", "whatsapp", "Track order", "TRACK_ORDER_42"),
    ("telnyx_inbound_message.json", "telnyx", "sms", "Hi! Is my order #42 ready?", None),
    ("telnyx_inbound_mms.json", "telnyx", "sms", None, None),
    ("whatsapp_inbound_text.json", "whatsapp_cloud", "whatsapp", None, None),
    ("whatsapp_inbound_button_reply.json", "whatsapp_cloud", "whatsapp", None, "any"),
    ("whatsapp_inbound_list_reply.json", "whatsapp_cloud", "whatsapp", None, "any"),
    ("whatsapp_inbound_template_quick_reply.json", "whatsapp_cloud", "whatsapp", None, "any"),
]
STATUSES = [
    # (sample, provider, kind, expected status, expected error code)
    ("twilio_status_callback.txt", "twilio", "sms", "delivered", ""),
    ("twilio_status_callback_undelivered.txt", "twilio", "sms", "undelivered", "30003"),
    ("telnyx_message_sent.json", "telnyx", "sms", "sent", ""),
    ("telnyx_message_finalized.json", "telnyx", "sms", "delivered", ""),
    ("telnyx_message_finalized_failed.json", "telnyx", "sms", None, "40008"),
    ("whatsapp_status_delivered.json", "whatsapp_cloud", "whatsapp", "delivered", ""),
    ("whatsapp_status_failed.json", "whatsapp_cloud", "whatsapp", "failed", "131047"),
]


def deliver(channel, provider: str, raw: bytes):
    if provider == "twilio":
        return post_twilio(channel, form_pairs_of(raw))
    if provider == "telnyx":
        return post_telnyx(channel, raw)
    return post_meta(channel, raw)


def parsed(channel, provider: str, raw: bytes):
    form = form_pairs_of(raw) if provider == "twilio" else None
    request = webhook_request(headers={}, body=raw, form=form)
    return backend_for(channel).parse_webhook(channel_config(channel), request)


@pytest.mark.parametrize(("sample", "provider", "kind", "text", "reply_id"), INBOUND)
def test_inbound_sample_is_stored_in_a_conversation_with_a_new_contact(tenant_a, sample, provider, kind, text,
                                                                       reply_id):
    raw = sample_bytes(sample)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, provider, kind=kind)
        expected = parsed(channel, provider, raw).inbound[0]

    response = deliver(channel, provider, raw)

    assert response.status_code == 200
    if provider == "twilio":
        assert response["Content-Type"].startswith("text/xml") and b"<Response/>" in response.content
    with tenant_a.scope():
        message = Message.objects.get(channel=channel)
        assert message.provider_message_id == expected.provider_message_id
        assert message.direction == "inbound" and message.status == "received"
        assert message.body == (text if text is not None else message.body)
        assert message.body  # button taps and media captions/ids still give the thread something to show
        assert message.remote_address == expected.from_address
        contact = Contact.objects.get()
        assert contact.origin == "inbound" and contact.phone == expected.from_address
        conversation = Conversation.objects.get()
        assert (message.conversation, message.contact) == (conversation, contact)
        assert conversation.unread_count == 1 and conversation.last_inbound_at is not None
        if reply_id:
            assert message.payload["reply"]["id"] == (expected.whatsapp_reply.id if reply_id == "any"
                                                      else reply_id)
        if expected.media:
            assert message.payload["media"][0]["content_type"] == expected.media[0].content_type


@pytest.mark.parametrize(("sample", "provider", "kind", "status", "error_code"), STATUSES)
def test_status_sample_moves_our_sent_message_forward(tenant_a, sample, provider, kind, status, error_code):
    raw = sample_bytes(sample)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, provider, kind=kind)
        update = parsed(channel, provider, raw).statuses[0]
        message = Message.objects.create(organization=tenant_a.org, channel=channel, direction="outbound",
                                         origin="staff", body="Your results are ready", status="sent",
                                         provider_message_id=update.provider_message_id)

    assert deliver(channel, provider, raw).status_code == 200

    with tenant_a.scope():
        message.refresh_from_db()
        assert message.status == (status or update.status.value)
        assert message.error_code == error_code
        if message.status in ("failed", "undelivered"):
            assert message.failed_at is not None and message.error_message
        if message.status == "delivered":
            assert message.delivered_at is not None
    with scopes_disabled():
        assert Message.objects.count() == 1  # a receipt never creates messages
