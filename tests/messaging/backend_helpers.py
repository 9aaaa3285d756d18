"""Shared set-up for the messaging backend tests: channels per provider, signed webhook posts."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django_scopes import scopes_disabled

from messaging.channel_config import webhook_path
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from tests.fakes import TELNYX_VECTOR_SEED, meta_signed_headers, simulator_signed_headers, telnyx_keypair
from tests.fakes.payloads import META_PHONE_NUMBER_ID, TWILIO_ACCOUNT_SID, TWILIO_SERVICE_SID
from tests.fakes.signing import telnyx_sign, twilio_signed_form

TWILIO_TOKEN = "test-auth-token"
TELNYX_KEY = "KEY_test_telnyx"
META_SECRET = "meta-app-secret"
META_VERIFY = "verify-me-please"
META_TOKEN = "EAAG-test-token"
SIM_SECRET = "sim-secret"
PATIENT = "+14155550199"

_CHANNEL_DEFAULTS = {
    "simulator": dict(address="+15005550006", webhook_secret=SIM_SECRET, credentials={}),
    "twilio": dict(address=TWILIO_SERVICE_SID, webhook_secret=TWILIO_TOKEN,
                   credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_TOKEN}),
    "telnyx": dict(address="+13125550100", webhook_secret=telnyx_keypair(TELNYX_VECTOR_SEED)[1],
                   credentials={"api_key": TELNYX_KEY}),
    "whatsapp_cloud": dict(address=META_PHONE_NUMBER_ID, webhook_secret=META_SECRET,
                           credentials={"access_token": META_TOKEN, "app_secret": META_SECRET,
                                        "verify_token": META_VERIFY}),
}


def make_channel(org, provider: str = "simulator", kind: str | None = None, **overrides) -> Channel:
    """A channel of ``org`` (call inside its scope); generous rate limit so tests don't wait."""
    values = dict(_CHANNEL_DEFAULTS[provider])
    values.update(name=f"{provider} channel", provider=provider, rate_limit_per_second=1000,
                  kind=kind or ("whatsapp" if provider == "whatsapp_cloud" else "sms"))
    values.update(overrides)
    channel = Channel.objects.create(organization=org, **values)
    get_rate_limiter().reset(channel.pk)
    return channel


def public_url(channel: Channel) -> str:
    return settings.PUBLIC_BASE_URL + webhook_path(channel)


def post(channel: Channel, body: bytes, headers: dict[str, str], client: Client | None = None,
         path: str | None = None):
    """POST raw ``body`` to the channel's webhook URL like a provider would."""
    client = client or Client()
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(path or webhook_path(channel), data=body,
                       content_type=headers.get("Content-Type", "application/octet-stream"), headers=extra)


def post_twilio(channel: Channel, pairs: list[tuple[str, str]], token: str = TWILIO_TOKEN):
    body, headers = twilio_signed_form(token, public_url(channel), pairs)
    return post(channel, body, headers)


def post_telnyx(channel: Channel, body: bytes, timestamp: int | None = None):
    import time

    return post(channel, body, telnyx_sign(TELNYX_VECTOR_SEED, timestamp or int(time.time()), body))


def post_meta(channel: Channel, body: bytes, secret: str = META_SECRET):
    return post(channel, body, meta_signed_headers(secret, body))


def post_simulator(channel: Channel, body: bytes, secret: str = SIM_SECRET):
    return post(channel, body, simulator_signed_headers(secret, body))


def form_pairs_of(raw: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(raw.decode(), keep_blank_values=True)


def encode_pairs(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs).encode()


def row_counts() -> dict[str, int]:
    """How many messaging/contact rows exist in all organisations (to prove nothing changed)."""
    from audit.models import AuditEvent
    from contacts.models import Contact
    from messaging.models import Conversation, DeliveryReceipt

    with scopes_disabled():  # test bookkeeping spans organisations on purpose
        return {"messages": Message.objects.count(), "contacts": Contact.objects.count(),
                "conversations": Conversation.objects.count(), "receipts": DeliveryReceipt.objects.count(),
                "audit": AuditEvent.objects.count()}


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on_commit callbacks (Celery dispatch, eager in tests) as they would in production."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        yield callbacks


def as_member(tenant, role: str = "staff"):
    """The Actor of ``tenant``'s persona ``role`` (services take an Actor, not a User)."""
    from accounts.actor import actor_for

    return actor_for(getattr(tenant, role), tenant.org)
