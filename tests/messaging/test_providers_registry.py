"""The registry, the shared interface, the simulator and the status rules."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from messaging.providers import (
    Capability,
    ChannelConfig,
    MessageStatus,
    OutboundMessage,
    ProviderBackend,
    SendOutcome,
    UnknownProviderError,
    available_backends,
    backend_class,
    can_transition,
    get_backend,
    get_configured_backend,
    register,
)
from messaging.providers.simulator import SimulatorBackend
from tests.fakes import simulator_signed_headers
from tests.fakes.payloads import simulator_inbound
from tests.fakes.requests import webhook_request

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_four_backends_are_discovered_by_key():
    assert available_backends() == ["simulator", "telnyx", "twilio", "whatsapp_cloud"]
    for key in available_backends():
        assert issubclass(backend_class(key), ProviderBackend)
        assert backend_class(key).key == key


def test_get_backend_shares_one_instance_per_set_of_options():
    assert get_backend("telnyx") is get_backend("telnyx")
    pointed = get_backend("telnyx", api_base_url="http://127.0.0.1:9/v2")
    assert pointed is not get_backend("telnyx")
    assert pointed.api_base_url == "http://127.0.0.1:9/v2"
    assert get_backend("twilio").api_base_url == "https://api.twilio.com"
    assert get_backend("whatsapp_cloud").api_base_url == "https://graph.facebook.com/v21.0"


def test_unknown_provider_key_raises_a_lookup_error():
    with pytest.raises(UnknownProviderError):
        get_backend("carrier_pigeon")


def test_a_second_class_cannot_take_an_existing_key():
    with pytest.raises(ValueError, match="already registered"):

        @register("twilio")
        class Impostor(SimulatorBackend):
            pass


@pytest.mark.parametrize("key", ["simulator", "telnyx", "twilio", "whatsapp_cloud"])
def test_every_backend_method_is_documented(key):
    cls = backend_class(key)
    for name in ("send", "verify_webhook", "parse_webhook", "verify_django_request"):
        assert inspect.getdoc(getattr(cls, name)), f"{key}.{name} has no docstring"


def test_capabilities_tell_callers_what_each_backend_can_send():
    assert Capability.INTERACTIVE in backend_class("whatsapp_cloud").capabilities
    assert Capability.TEMPLATES in backend_class("twilio").capabilities
    assert backend_class("telnyx").capabilities == {Capability.MEDIA, Capability.FIND_SENT}
    # Meta offers no message look-up: an interrupted WhatsApp Cloud send cannot be reconciled by asking.
    assert Capability.FIND_SENT not in backend_class("whatsapp_cloud").capabilities
    assert Capability.FIND_SENT in backend_class("twilio").capabilities


def test_providers_import_without_django():
    code = (
        "import sys, messaging.providers as p, messaging.segments; p.available_backends(); "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_reprs_hide_phi_and_secrets():
    config = ChannelConfig(
        key="twilio",
        address="+14155550100",
        credentials={"auth_token": "tok-secret"},
        webhook_secret_or_public_key="pk-secret",
    )
    message = OutboundMessage(to="+14155550199", body="Your HIV results are ready")
    text = repr(config) + repr(message)
    for secret in ("tok-secret", "pk-secret", "+14155550199", "HIV"):
        assert secret not in text


# ---------------------------------------------------------------- simulator
SIM = ChannelConfig(key="simulator", address="+15550000000", webhook_secret_or_public_key="sim-secret")


def test_simulator_accepts_every_send_with_a_fresh_sim_id():
    backend = SimulatorBackend()
    first = backend.send(SIM, OutboundMessage(to="+15551230000", body="hi"))
    second = backend.send(SIM, OutboundMessage(to="+15551230000", body="hi"))
    assert first.outcome is SendOutcome.ACCEPTED
    assert first.provider_message_id.startswith("sim_") and len(first.provider_message_id) == 36
    assert first.provider_message_id != second.provider_message_id


def test_simulator_webhook_round_trip():
    body = simulator_inbound(
        from_="+15551230000", to="+15550000000", body="Running late", message_id="simin_1"
    )
    backend = SimulatorBackend()
    headers = simulator_signed_headers("sim-secret", body)
    assert backend.verify_webhook(
        SIM, webhook_request(method="POST", url="https://x/", headers=headers, body=body, form=None, query={})
    ).ok
    batch = backend.parse_webhook(SIM, webhook_request(headers=headers, body=body, form=None))
    [message] = batch.inbound
    assert (message.provider_message_id, message.from_address, message.to_address, message.body) == (
        "simin_1",
        "+15551230000",
        "+15550000000",
        "Running late",
    )


def test_simulator_status_payload_gives_a_status_update():
    batch = SimulatorBackend().parse_webhook(
        SIM, webhook_request(headers={}, body=b'{"id":"sim_1","status":"read"}', form=None)
    )
    [update] = batch.statuses
    assert (update.provider_message_id, update.status, update.dedupe_key) == (
        "sim_1",
        MessageStatus.READ,
        "sim_1:read",
    )


# ---------------------------------------------------------------- status rules
@pytest.mark.parametrize(
    ("current", "new", "applies"),
    [
        (None, "sent", True),
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("sent", "read", True),  # WhatsApp may skip delivered: read implies it
        ("delivered", "sent", False),  # late, out of order
        ("delivered", "delivered", False),  # duplicate
        ("read", "delivered", False),
        ("sent", "failed", True),
        ("delivered", "failed", False),  # a late failure must not hide a delivery
        ("failed", "delivered", False),  # terminal
        ("undelivered", "sent", False),
        ("read", "failed", False),
    ],
)
def test_status_only_moves_forward(current, new, applies):
    assert can_transition(current, new) is applies


# ---------------------------------------------------------------- Django request helper
class StubQueryDict(dict):
    """Just enough of Django's QueryDict for the helper (lists(), get)."""

    def lists(self):
        return [(key, value if isinstance(value, list) else [value]) for key, value in self.items()]

    def get(self, key, default=None):
        value = super().get(key, default)
        return value[-1] if isinstance(value, list) else value


class StubRequest:
    def __init__(self, *, method, body, content_type, query_string="", post=None, headers=None):
        self.method = method
        self.body = body
        self.META = {"CONTENT_TYPE": content_type, "QUERY_STRING": query_string}
        self.POST = StubQueryDict(post or {})
        self.GET = StubQueryDict(dict(p.split("=", 1) for p in query_string.split("&") if p))
        self.headers = headers or {}


def test_verify_django_request_uses_the_public_url_and_form_pairs():
    from tests.fakes import twilio_signature

    pairs = [("MessageSid", "SM1"), ("Body", "hi"), ("Body", "again")]
    url = "https://app.example.com/webhooks/twilio/ch_1/"
    request = StubRequest(
        method="POST",
        body=b"MessageSid=SM1&Body=hi&Body=again",
        content_type="application/x-www-form-urlencoded",
        post={"MessageSid": ["SM1"], "Body": ["hi", "again"]},
        headers={"X-Twilio-Signature": twilio_signature("tok", url, pairs)},
    )
    config = ChannelConfig(key="twilio", address="+1", credentials={"auth_token": "tok"})
    backend = get_backend("twilio")
    assert backend.verify_django_request(config, request, url).ok
    assert not backend.verify_django_request(config, request, "http://internal:8000/x/").ok


def test_verify_django_request_appends_the_query_string_for_the_meta_handshake():
    request = StubRequest(
        method="GET",
        body=b"",
        content_type="",
        query_string="hub.mode=subscribe&hub.verify_token=v&hub.challenge=42",
    )
    config = ChannelConfig(key="whatsapp_cloud", address="1", credentials={"verify_token": "v"})
    result = get_backend("whatsapp_cloud").verify_django_request(
        config, request, "https://app.example.com/wa/"
    )
    assert result.ok and result.challenge == "42"


def test_configured_backend_reads_the_base_url_setting_the_backend_names(monkeypatch):
    import types

    fake_settings = types.SimpleNamespace(TWILIO_API_BASE_URL="http://127.0.0.1:9")
    monkeypatch.setattr("django.conf.settings", fake_settings)
    assert get_configured_backend("twilio").api_base_url == "http://127.0.0.1:9"
    assert get_configured_backend("telnyx").api_base_url == "https://api.telnyx.com/v2"
    assert get_configured_backend("simulator") is get_backend("simulator")


def test_verify_and_parse_a_real_django_request():
    from django.test import RequestFactory

    from tests.fakes import twilio_signed_form
    from tests.fakes.payloads import twilio_inbound_sms

    url = "https://care.example.org/webhooks/twilio/ch_1/"
    pairs = twilio_inbound_sms(from_="+14155550199", to="+14155550100", body="Zoë: ok & thanks")
    body, headers = twilio_signed_form("tok", url, pairs)
    request = RequestFactory().post(
        "/webhooks/twilio/ch_1/", data=body, content_type=headers.pop("Content-Type"), headers=headers
    )
    config = ChannelConfig(key="twilio", address="+14155550100", credentials={"auth_token": "tok"})
    backend = get_backend("twilio")
    assert backend.verify_django_request(config, request, url).ok
    [message] = backend.parse_django_request(config, request).inbound
    assert message.body == "Zoë: ok & thanks"
