"""The fake provider APIs and signing helpers behave like the providers they stand in for."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx
import pytest

from messaging.providers import ChannelConfig, MessageStatus, ReplyKind
from messaging.providers.telnyx import TelnyxBackend
from messaging.providers.twilio import TwilioBackend
from messaging.providers.whatsapp_cloud import WhatsAppCloudBackend
from tests.fakes import (
    TELNYX_VECTOR_SEED,
    FakeGraph,
    FakeTelnyx,
    FakeTwilio,
    meta_signature,
    meta_signed_headers,
    payloads,
    telnyx_keypair,
    telnyx_sign,
    twilio_signature,
    twilio_signed_form,
)
from tests.fakes.requests import webhook_request
from tests.fakes.shared_data import sample_bytes, vector_bytes

SID = "AC0123456789abcdef0123456789abcdef"


# One client for the module: building one per request costs ~0.1 s (TLS context).
HTTP = httpx.Client(timeout=5)


def twilio_post(fake, form, auth=(SID, "test-auth-token")):
    return HTTP.post(f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages.json", data=form, auth=auth)


# ---------------------------------------------------------------- lifecycle and recording
def test_fake_serves_on_loopback_and_refuses_connections_after_stop():
    fake = FakeTwilio().start()
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.api_base_url == fake.base_url
    assert twilio_post(fake, {"To": "+14155550199", "From": "+14155550100", "Body": "x"}).status_code == 201
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        twilio_post(fake, {"To": "+14155550199"})


def test_a_keep_alive_fake_reuses_connections_and_stop_still_refuses_the_pooled_one():
    """As the real APIs do (the SDKs pool connections), for load tests; stop() ends the kept
    connections, so a pooled socket never reaches a stopped fake."""
    import http.client

    fake = FakeTwilio(keep_alive=True).start()
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    auth = base64.b64encode(f"{SID}:test-auth-token".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    for n in range(3):  # three requests, one connection
        connection.request("POST", f"/2010-04-01/Accounts/{SID}/Messages.json",
                           body=f"To=%2B1415555019{n}&From=%2B14155550100&Body=x", headers=headers)
        response = connection.getresponse()
        assert (response.status, response.version) == (201, 11) and response.read()
    assert len(fake.requests) == 3
    fake.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("POST", f"/2010-04-01/Accounts/{SID}/Messages.json", body="To=x", headers=headers)
        connection.getresponse()
    with pytest.raises(httpx.ConnectError):
        twilio_post(fake, {"To": "+14155550199"})


def test_api_base_urls_include_the_provider_path_prefix():
    with FakeTelnyx() as telnyx, FakeGraph() as graph:
        assert telnyx.api_base_url == telnyx.base_url + "/v2"
        assert graph.api_base_url == graph.base_url + "/v21.0"


def test_requests_are_recorded_with_method_path_headers_and_parsed_body():
    with FakeTelnyx(api_key="k") as fake:
        HTTP.post(
            f"{fake.api_base_url}/messages",
            json={"to": "+13125550123", "from": "+13125550100", "text": "hi"},
            headers={"Authorization": "Bearer k"},
        )
        request = fake.last_request
    assert (request.method, request.path) == ("POST", "/v2/messages")
    assert request.headers["authorization"] == "Bearer k"
    assert request.json == {"to": "+13125550123", "from": "+13125550100", "text": "hi"}
    assert request.form is None


def test_concurrent_requests_are_all_recorded():
    with FakeTwilio() as fake:
        form = {"To": "+14155550199", "From": "+14155550100", "Body": "x"}
        threads = [threading.Thread(target=twilio_post, args=(fake, form)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(fake.requests) == 20
        assert len(set(fake.created_sids)) == 20


# ---------------------------------------------------------------- provider-shaped answers
def test_twilio_fake_answers_a_message_resource_and_twilio_shaped_errors():
    with FakeTwilio() as fake:
        ok = twilio_post(
            fake, {"To": "+14155550199", "MessagingServiceSid": "MG" + "0" * 32, "Body": "x"}
        ).json()
        assert (ok["status"], ok["num_segments"], ok["from"]) == ("accepted", "0", None)
        assert len(ok["sid"]) == 34 and ok["sid"].startswith("SM")
        unauthorised = twilio_post(fake, {"To": "+1"}, auth=(SID, "bad"))
        assert unauthorised.status_code == 401
        assert unauthorised.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }


def test_fail_next_answers_the_envelope_with_retry_after_then_recovers():
    with FakeTwilio() as fake:
        fake.fail_next(2, status=429, retry_after=9)
        form = {"To": "+14155550199", "From": "+14155550100", "Body": "x"}
        first, second, third = (twilio_post(fake, form) for _ in range(3))
        assert (first.status_code, first.headers["retry-after"]) == (429, "9")
        assert first.json()["code"] == 20429
        assert second.status_code == 429
        assert third.status_code == 201


def test_telnyx_fake_errors_use_string_codes():
    with FakeTelnyx(api_key="k") as fake:
        fake.fail_next(status=500)
        answer = HTTP.post(f"{fake.api_base_url}/messages", json={}, headers={"Authorization": "Bearer k"})
        assert answer.status_code == 500
        assert answer.json() == {"errors": [{"code": "10007", "title": "Unexpected error"}]}
        assert "retry-after" not in answer.headers


def test_graph_fake_errors_use_the_error_object():
    with FakeGraph(access_token="t") as fake:
        answer = HTTP.post(
            f"{fake.api_base_url}/{fake.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "to": "1"},
            headers={"Authorization": "Bearer wrong"},
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == 190


# ---------------------------------------------------------------- signing helpers
def test_signing_helpers_reproduce_the_published_vectors():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    pairs = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
        ("Caller", "+14158675309"),
    ]
    assert twilio_signature("12345", url, pairs) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    _, public_key = telnyx_keypair(TELNYX_VECTOR_SEED)
    assert public_key == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    headers = telnyx_sign(TELNYX_VECTOR_SEED, 1736964131, vector_bytes("telnyx_body.json"))
    assert headers["telnyx-signature-ed25519"] == (
        "7WaOyA4xnA92KVtmo1fOOPTs1ccMXyIZ+W1qaFew278xbyLiZrsbJ74lnTKOLHm76VD4cfIsLJozBs+AO2icCg=="
    )
    assert meta_signature("8c2f1a9e0b7d46e3a5f4c3b2a1908e7d", vector_bytes("meta_body.json")) == (
        "sha256=aedea9cb4aa069bca00f4fc2122fd0913300bbc78707c3dd964498d433b03b24"
    )
    assert len(base64.b64decode(headers["telnyx-signature-ed25519"])) == 64


# ---------------------------------------------------------------- payload builders
def test_twilio_builders_sign_and_parse_round_trip():
    url = "https://app.example.com/webhooks/twilio/ch_1/"
    config = ChannelConfig(key="twilio", address="+14155550100", credentials={"auth_token": "tok"})
    pairs = payloads.twilio_inbound_sms(
        from_="+14155550199", to="+14155550100", body="Hello & ?", media=[("https://m/0.jpg", "image/jpeg")]
    )
    body, headers = twilio_signed_form("tok", url, pairs)
    backend = TwilioBackend()
    assert backend.verify_webhook(
        config, webhook_request(method="POST", url=url, headers=headers, body=body, form=None, query={})
    ).ok
    [message] = backend.parse_webhook(config, webhook_request(headers=headers, body=body, form=None)).inbound
    assert (message.from_address, message.body, message.media[0].url) == (
        "+14155550199",
        "Hello & ?",
        "https://m/0.jpg",
    )
    tap = payloads.twilio_inbound_whatsapp(
        from_="+16505551234", to="+14155550100", body="Yes", button_payload="CONFIRM_42"
    )
    [reply] = backend.parse_webhook(config, webhook_request(headers={}, body=b"", form=tap)).inbound
    assert reply.whatsapp_reply.id == "CONFIRM_42"
    status = payloads.twilio_status(
        message_sid="SM" + "a" * 32,
        status="undelivered",
        from_="+14155550100",
        to="+14155550199",
        error_code="30006",
    )
    [update] = backend.parse_webhook(config, webhook_request(headers={}, body=b"", form=status)).statuses
    assert (update.status, update.error_code) == (MessageStatus.UNDELIVERED, "30006")


def test_telnyx_builders_sign_and_parse_round_trip():
    private_key, public_key = telnyx_keypair()
    config = ChannelConfig(key="telnyx", address="+13125550100", webhook_secret_or_public_key=public_key)
    body = payloads.telnyx_inbound(from_="+13125550123", to="+13125550100", text="Olá 👋", message_id="m-1")
    headers = telnyx_sign(private_key, 1_700_000_000, body)
    backend = TelnyxBackend()
    assert backend.verify_webhook(
        config,
        webhook_request(
            method="POST",
            url="https://x/",
            headers=headers,
            body=body,
            form=None,
            query={},
            now=1_700_000_005,
        ),
    ).ok
    [message] = backend.parse_webhook(config, webhook_request(headers=headers, body=body, form=None)).inbound
    assert (message.provider_message_id, message.body) == ("m-1", "Olá 👋")
    failed = payloads.telnyx_status(
        message_id="m-2",
        status="delivery_failed",
        from_="+13125550100",
        to="+13125550123",
        event_id="e-2",
        errors=[{"code": "40300", "title": "Blocked due to STOP"}],
    )
    [update] = backend.parse_webhook(config, webhook_request(headers={}, body=failed, form=None)).statuses
    assert (update.dedupe_key, update.failure_outcome.value) == ("e-2", "opted_out")


def test_meta_builders_sign_and_parse_round_trip():
    config = ChannelConfig(
        key="whatsapp_cloud", address=payloads.META_PHONE_NUMBER_ID, credentials={"app_secret": "app-secret"}
    )
    backend = WhatsAppCloudBackend()
    body = payloads.meta_inbound_text(from_wa_id="16505551234", text="Zoë here", profile_name="Zoë")
    assert b"\\u00eb" in body  # escaped like Meta sends it
    headers = meta_signed_headers("app-secret", body)
    assert backend.verify_webhook(
        config, webhook_request(method="POST", url="https://x/", headers=headers, body=body, form=None)
    ).ok
    [message] = backend.parse_webhook(config, webhook_request(headers=headers, body=body, form=None)).inbound
    assert (message.body, message.profile_name) == ("Zoë here", "Zoë")
    for kind in ("button_reply", "list_reply", "quick_reply"):
        tap = payloads.meta_inbound_reply(from_wa_id="16505551234", kind=kind, reply_id="r1", title="Yes")
        [reply] = backend.parse_webhook(config, webhook_request(headers={}, body=tap, form=None)).inbound
        assert (reply.whatsapp_reply.kind, reply.whatsapp_reply.id) == (ReplyKind(kind), "r1")
    status = payloads.meta_status(message_id="wamid.X", status="read", recipient_id="16505551234")
    [update] = backend.parse_webhook(config, webhook_request(headers={}, body=status, form=None)).statuses
    assert (update.provider_message_id, update.status) == ("wamid.X", MessageStatus.READ)


def test_a_stopped_fake_restarts_on_the_same_port():
    fake = FakeTwilio().start()
    base_url = fake.base_url
    fake.stop()
    with fake:
        assert fake.base_url == base_url
        form = {"To": "+14155550199", "From": "+14155550100", "Body": "x"}
        assert twilio_post(fake, form).status_code == 201


def test_provider_fixtures_live_in_the_repository_and_a_missing_one_fails():
    from tests.fakes.shared_data import DATA_DIR, MissingFixtureError, shared_path

    repo = Path(__file__).resolve().parents[2]
    assert DATA_DIR.is_relative_to(repo)
    assert sample_bytes("twilio_inbound_sms.txt")  # read from tests/fakes/data inside the repository
    with pytest.raises(MissingFixtureError, match="provider fixture missing"):
        shared_path("samples", "no_such_sample.json")
