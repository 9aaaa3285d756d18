"""Twilio MMS: every media item is stored, however the request lists them (issue 15, item 9).

Each request is signed the way Twilio signs it (tests/fakes/signing.py: every value of a repeated
parameter, sorted), posted to the real webhook URL, and read back from the stored message.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from messaging.models import Message
from tests.fakes.signing import twilio_signature
from tests.messaging.backend_helpers import PATIENT, TWILIO_TOKEN, make_channel, post, post_twilio, public_url

pytestmark = pytest.mark.django_db

SID = "MM" + "a" * 32


def _base(num_media: int) -> list[tuple[str, str]]:
    return [("MessageSid", SID), ("AccountSid", "AC" + "0" * 32), ("From", PATIENT), ("To", "+14155550100"),
            ("Body", "photos of the rash"), ("NumMedia", str(num_media))]


def _stored_media(tenant) -> list[tuple[str, str]]:
    with tenant.scope():
        message = Message.objects.get(provider_message_id=SID)
        return [(item["url"], item["content_type"]) for item in message.payload["media"]]


@pytest.fixture
def twilio(tenant_a):
    with tenant_a.scope():
        return make_channel(tenant_a.org, "twilio")


def test_repeated_media_url_parameters_keep_every_item(tenant_a, twilio):
    pairs = [*_base(3),
             ("MediaUrl", "https://api.twilio.com/media/ME1"), ("MediaContentType", "image/jpeg"),
             ("MediaUrl", "https://api.twilio.com/media/ME2"), ("MediaContentType", "image/png"),
             ("MediaUrl", "https://api.twilio.com/media/ME3"), ("MediaContentType", "application/pdf")]
    response = post_twilio(twilio, pairs)
    assert response.status_code == 200
    assert _stored_media(tenant_a) == [
        ("https://api.twilio.com/media/ME1", "image/jpeg"),
        ("https://api.twilio.com/media/ME2", "image/png"),
        ("https://api.twilio.com/media/ME3", "application/pdf"),
    ]


def test_numbered_media_keys_still_work(tenant_a, twilio):
    pairs = [*_base(2),
             ("MediaUrl0", "https://api.twilio.com/media/ME0"), ("MediaContentType0", "image/jpeg"),
             ("MediaUrl1", "https://api.twilio.com/media/ME1"), ("MediaContentType1", "video/mp4")]
    assert post_twilio(twilio, pairs).status_code == 200
    assert _stored_media(tenant_a) == [
        ("https://api.twilio.com/media/ME0", "image/jpeg"),
        ("https://api.twilio.com/media/ME1", "video/mp4"),
    ]


def test_a_repeated_numbered_key_keeps_both_values_and_numbers_sort_numerically(tenant_a, twilio):
    pairs = [*_base(3),
             ("MediaUrl10", "https://m/10"), ("MediaContentType10", "image/gif"),
             ("MediaUrl2", "https://m/2a"), ("MediaUrl2", "https://m/2b"),
             ("MediaContentType2", "image/jpeg"), ("MediaContentType2", "image/png")]
    assert post_twilio(twilio, pairs).status_code == 200
    assert _stored_media(tenant_a) == [("https://m/2a", "image/jpeg"), ("https://m/2b", "image/png"),
                                       ("https://m/10", "image/gif")]


def test_the_signature_over_repeated_parameters_is_checked(tenant_a, twilio):
    pairs = [*_base(2), ("MediaUrl", "https://m/1"), ("MediaUrl", "https://m/2")]
    # Signed over one MediaUrl only: the second value was added in transit.
    forged = twilio_signature(TWILIO_TOKEN, public_url(twilio), pairs[:-1])
    response = post(twilio, urlencode(pairs).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged})
    assert response.status_code == 403
    with tenant_a.scope():
        assert not Message.objects.filter(provider_message_id=SID).exists()
