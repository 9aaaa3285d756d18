"""Sign-in codes leave through the organisation's channel; the code is encrypted and never logged."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from accounts import blind_index, otp_delivery
from messaging.models import Message
from messaging.otp import send_sign_in_code
from tests.messaging.backend_helpers import make_channel

STAFF_PHONE = "+14155550123"


def test_messaging_registers_the_sender():
    assert otp_delivery.is_available()
    assert otp_delivery._sender is send_sign_in_code


def test_a_code_lands_in_the_simulator_as_an_outbound_message(tenant_a, caplog,
                                                              django_capture_on_commit_callbacks):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "simulator", is_default=True)
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        otp_delivery.deliver(user=tenant_a.staff, phone_number=STAFF_PHONE, token="493021", method="sms")
    with tenant_a.scope():
        message = Message.objects.get()
        assert (message.channel, message.origin, message.direction) == (channel, "otp", "outbound")
        assert message.remote_address == STAFF_PHONE and "493021" in message.body
        assert message.status == "sent" and message.contact is None
        # However the number is typed, the simulator finds the code by the number's blind index.
        index = blind_index.phone_index(tenant_a.org.pk, blind_index.normalize_phone("(415) 555-0123", "US"))
        assert list(Message.objects.filter(channel=channel, remote_address_index=index)) == [message]
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM messaging_message WHERE id = %s", [message.pk])
        assert "493021" not in cursor.fetchone()[0]
    assert "493021" not in caplog.text and STAFF_PHONE not in caplog.text


def test_whatsapp_codes_use_a_whatsapp_channel(tenant_a):
    with tenant_a.scope():
        make_channel(tenant_a.org, "simulator", is_default=True)
        with pytest.raises(otp_delivery.OTPDeliveryUnavailable) as unavailable:
            send_sign_in_code(user=tenant_a.staff, phone_number=STAFF_PHONE, token="1", method="whatsapp")
        assert "WhatsApp channel" in str(unavailable.value)


def test_no_channel_means_a_clear_unavailable_error(tenant_a, outsider):
    with pytest.raises(otp_delivery.OTPDeliveryUnavailable):
        send_sign_in_code(user=outsider, phone_number=STAFF_PHONE, token="1", method="sms")
