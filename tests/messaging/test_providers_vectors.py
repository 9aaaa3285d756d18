"""Webhook authenticity: every vector of shared/providers/VECTORS.md, plus the ways it fails."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qsl

import pytest

from messaging.providers import ChannelConfig
from messaging.providers.simulator import SimulatorBackend, sign_body
from messaging.providers.telnyx import TelnyxBackend
from messaging.providers.twilio import TwilioBackend
from messaging.providers.whatsapp_cloud import WhatsAppCloudBackend
from tests.fakes import simulator_signed_headers, telnyx_keypair, telnyx_sign, twilio_signature
from tests.fakes.requests import webhook_request
from tests.fakes.shared_data import sample_bytes, vector_bytes

# ---------------------------------------------------------------- Twilio
T_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
T1 = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
T2 = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
T3 = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]


def twilio_config(token: str = "12345") -> ChannelConfig:
    return ChannelConfig(
        key="twilio",
        address="+14155550100",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": token},
    )


def verify_twilio(url, form, signature, *, body=b"", token="12345", method="POST"):
    return TwilioBackend().verify_webhook(
        twilio_config(token),
        webhook_request(
            method=method,
            url=url,
            headers={"X-Twilio-Signature": signature},
            body=body,
            form=form,
            query={},
        ),
    )


@pytest.mark.parametrize(
    ("name", "pairs", "signature"),
    [
        ("T1", T1, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("T2", T2, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        ("T3", T3, "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
    ],
)
def test_twilio_published_vectors_verify(name, pairs, signature):
    assert verify_twilio(T_URL, pairs, signature).ok, name


def test_twilio_t4_accepts_the_url_with_or_without_the_default_port():
    signed_with_port = "kvajT1Ptam85bY51eRf/AJRuM3w="
    assert verify_twilio(T_URL, T1, signed_with_port).ok
    assert verify_twilio("https://mycompany.com:443/myapp.php?foo=1&bar=2", T1, signed_with_port).ok
    assert verify_twilio(
        "https://mycompany.com:443/myapp.php?foo=1&bar=2", T1, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ).ok


def test_twilio_t4_does_not_strip_a_non_default_port():
    url = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
    assert not verify_twilio(url, T1, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").ok


def test_twilio_t5_json_body_is_checked_through_body_sha256():
    body = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{T_URL}&bodySHA256={digest}"
    assert verify_twilio(url, None, "a9nBmqA0ju/hNViExpshrM61xv4=", body=body).ok
    tampered = body.replace(b"value", b"other")
    result = verify_twilio(url, None, "a9nBmqA0ju/hNViExpshrM61xv4=", body=tampered)
    assert not result.ok and "bodySHA256" in result.reason


def test_twilio_t6_sample_inbound_sms_verifies_from_the_raw_body():
    body = sample_bytes("twilio_inbound_sms.txt")
    result = verify_twilio(
        "https://app.example.com/webhooks/twilio/sms/",
        None,
        "Ukb4oQ/5KweIao/ZPQDRjfN5HqI=",
        body=body,
        token="f3b1c8e2a9d04e6b7c5a1d2e3f4a5b6c",
    )
    assert result.ok


def test_twilio_rejects_a_changed_parameter_a_wrong_token_and_a_missing_header():
    tampered = [*T1[:-1], ("Caller", "+14158675300")]
    assert not verify_twilio(T_URL, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").ok
    assert not verify_twilio(T_URL, T1, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", token="54321").ok
    missing = TwilioBackend().verify_webhook(
        twilio_config(), webhook_request(method="POST", url=T_URL, headers={}, body=b"", form=T1, query={})
    )
    assert not missing.ok and "missing" in missing.reason


def test_twilio_signature_of_an_added_parameter_fails():
    # Twilio signs every parameter it sends: one we did not expect still counts.
    assert not verify_twilio(T_URL, [*T1, ("Extra", "1")], "RSOYDt4T1cUTdK1PDd93/VVr8B8=").ok


def test_twilio_get_webhook_is_signed_over_the_url_only():
    url = "https://app.example.com/hook?MessageSid=SM1&Body=hi"
    assert verify_twilio(url, None, twilio_signature("12345", url, []), method="GET").ok


def test_twilio_non_ascii_signature_header_fails_without_raising():
    assert not verify_twilio(T_URL, T1, "ünïcode").ok


# ---------------------------------------------------------------- Telnyx
TELNYX_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
TELNYX_TS = 1736964131
TELNYX_SIGNATURE = "7WaOyA4xnA92KVtmo1fOOPTs1ccMXyIZ+W1qaFew278xbyLiZrsbJ74lnTKOLHm76VD4cfIsLJozBs+AO2icCg=="


def verify_telnyx(
    body,
    *,
    signature=TELNYX_SIGNATURE,
    timestamp=str(TELNYX_TS),
    public_key=TELNYX_PUBLIC_KEY,
    now=TELNYX_TS + 10,
):
    config = ChannelConfig(
        key="telnyx",
        address="+13125550100",
        credentials={"api_key": "k"},
        webhook_secret_or_public_key=public_key,
    )
    headers = {"Telnyx-Signature-Ed25519": signature, "Telnyx-Timestamp": timestamp}
    return TelnyxBackend().verify_webhook(
        config, webhook_request(headers=headers, body=body, now=now)
    )


def test_telnyx_vector_verifies():
    assert verify_telnyx(vector_bytes("telnyx_body.json")).ok


def test_telnyx_rejects_one_changed_body_byte():
    body = vector_bytes("telnyx_body.json").replace(b"#42", b"#43")
    assert not verify_telnyx(body).ok


def test_telnyx_rejects_a_re_serialised_body():
    body = json.dumps(json.loads(vector_bytes("telnyx_body.json")), indent=1).encode()
    assert not verify_telnyx(body).ok


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_telnyx_rejects_timestamps_outside_300_seconds_past_or_future(offset):
    result = verify_telnyx(vector_bytes("telnyx_body.json"), now=TELNYX_TS + offset)
    assert not result.ok and "window" in result.reason


@pytest.mark.parametrize("offset", [300, -300])
def test_telnyx_accepts_timestamps_at_the_edge_of_the_window(offset):
    assert verify_telnyx(vector_bytes("telnyx_body.json"), now=TELNYX_TS + offset).ok


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature": "not base64 at all!"},
        {"signature": base64.b64encode(b"\x00" * 63).decode()},  # 63 bytes, not 64
        {"signature": ""},
        {"timestamp": "17369641x1"},
        {"timestamp": "-1736964131"},
        {"timestamp": ""},
        {"public_key": base64.b64encode(b"\x01" * 31).decode()},
        {"public_key": "%%%"},
        {"public_key": ""},
    ],
)
def test_telnyx_malformed_headers_and_keys_fail_cleanly(overrides):
    result = verify_telnyx(vector_bytes("telnyx_body.json"), **overrides)
    assert not result.ok and result.reason


def test_telnyx_signature_from_another_key_fails():
    other_key, _ = telnyx_keypair()
    body = vector_bytes("telnyx_body.json")
    headers = telnyx_sign(other_key, TELNYX_TS, body)
    assert not verify_telnyx(body, signature=headers["telnyx-signature-ed25519"]).ok


def test_telnyx_fresh_keypair_round_trip_with_the_real_clock():
    private_key, public_key = telnyx_keypair()
    body = b'{"data":{"event_type":"message.sent"}}'
    import time

    now = int(time.time())
    headers = telnyx_sign(private_key, now, body)
    config = ChannelConfig(key="telnyx", address="+1", webhook_secret_or_public_key=public_key)
    result = TelnyxBackend().verify_webhook(
        config, webhook_request(headers=headers, body=body)
    )
    assert result.ok


# ---------------------------------------------------------------- Meta
M1_SECRET = "1222e786b144d0e85b9f365372d93676"
M1_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877",'
    b'"phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},'
    b'"wa_id":"972544401243"}],"messages":[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0NDAx'
    b'MjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","timestamp":"1730231903","text":'
    b'{"body":"Hey there! I am using PyWa."},"type":"text"}]},"field":"messages"}]}]}'
)
M2_SECRET = "8c2f1a9e0b7d46e3a5f4c3b2a1908e7d"


def meta_config(secret: str = M2_SECRET, verify_token: str = "s3cret-verify") -> ChannelConfig:
    return ChannelConfig(
        key="whatsapp_cloud",
        address="106540352242922",
        credentials={"access_token": "t", "app_secret": secret, "verify_token": verify_token},
    )


def verify_meta(body, header, secret=M2_SECRET):
    return WhatsAppCloudBackend().verify_webhook(
        meta_config(secret),
        webhook_request(
            method="POST",
            url="https://x/",
            headers={"X-Hub-Signature-256": header},
            body=body,
            form=None,
            query={},
        ),
    )


def m3_body() -> bytes:
    return vector_bytes("meta_body.json").replace(b'"Sheena Nelson"', b'"Zo\\u00eb Nelson"')


def test_meta_m1_published_vector_verifies():
    header = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
    assert verify_meta(M1_BODY, header, M1_SECRET).ok


def test_meta_m2_sample_vector_verifies():
    header = "sha256=aedea9cb4aa069bca00f4fc2122fd0913300bbc78707c3dd964498d433b03b24"
    assert verify_meta(vector_bytes("meta_body.json"), header).ok


def test_meta_m3_escaped_unicode_body_verifies_only_as_received():
    header = "sha256=42075a6e4f39fd35b25d9ae0adb018a02bcdb05b84c91b35bd52d6e97b0b1d9d"
    body = m3_body()
    assert verify_meta(body, header).ok
    utf8 = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert utf8 != body
    assert not verify_meta(utf8, header).ok


@pytest.mark.parametrize(
    "header",
    [
        "",
        "aedea9cb4aa069bca00f4fc2122fd0913300bbc78707c3dd964498d433b03b24",  # no prefix
        "sha1=aedea9cb4aa069bca00f4fc2122fd0913300bbc78707c3dd964498d433b03b24",
        "sha256=" + "0" * 64,
        "sha256=ünïcode",
    ],
)
def test_meta_bad_signature_headers_fail_without_raising(header):
    assert not verify_meta(vector_bytes("meta_body.json"), header).ok


def test_meta_wrong_app_secret_fails():
    header = "sha256=aedea9cb4aa069bca00f4fc2122fd0913300bbc78707c3dd964498d433b03b24"
    assert not verify_meta(vector_bytes("meta_body.json"), header, secret="x" * 32).ok


def handshake(query, verify_token="s3cret-verify"):
    return WhatsAppCloudBackend().verify_webhook(
        meta_config(verify_token=verify_token),
        webhook_request(
            method="GET",
            url="https://x/",
            headers={},
            body=b"",
            form=None,
            query=query,
        ),
    )


def test_meta_get_handshake_with_the_right_token_echoes_the_challenge():
    result = handshake(
        {"hub.mode": "subscribe", "hub.verify_token": "s3cret-verify", "hub.challenge": "1158201444"}
    )
    assert result.ok and result.challenge == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "s3cret-verify", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_meta_get_handshake_with_a_bad_token_or_mode_fails(query):
    result = handshake(query)
    assert not result.ok and result.challenge is None


def test_meta_handshake_fails_closed_when_the_channel_has_no_verify_token():
    result = handshake(
        {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, verify_token=""
    )
    assert not result.ok


# ---------------------------------------------------------------- simulator
def test_simulator_signature_is_checked_with_the_channel_secret():
    config = ChannelConfig(key="simulator", address="+15550000000", webhook_secret_or_public_key="sim-secret")
    body = b'{"id":"x1","from":"+15551230000","to":"+15550000000","body":"hi"}'
    headers = simulator_signed_headers("sim-secret", body)
    assert headers["X-CareRelay-Simulator-Signature"] == sign_body("sim-secret", body)

    def verify(payload, hdrs):
        return SimulatorBackend().verify_webhook(
            config, webhook_request(headers=hdrs, body=payload)
        )

    assert verify(body, headers).ok
    assert not verify(body + b" ", headers).ok
    assert not verify(body, simulator_signed_headers("other", body)).ok
    assert not verify(body, {}).ok


def test_sample_form_pairs_match_the_vectors_parsing():
    # T6 signs parse_qsl(keep_blank_values=True) of the sample; the fakes' helper agrees.
    pairs = parse_qsl(sample_bytes("twilio_inbound_sms.txt").decode(), keep_blank_values=True)
    assert (
        twilio_signature(
            "f3b1c8e2a9d04e6b7c5a1d2e3f4a5b6c", "https://app.example.com/webhooks/twilio/sms/", pairs
        )
        == "Ukb4oQ/5KweIao/ZPQDRjfN5HqI="
    )
