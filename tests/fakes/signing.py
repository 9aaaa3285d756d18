"""Sign webhooks exactly as each provider does (VECTORS.md), independently of our code.

These are written from the provider specs, not by calling ``messaging.providers``, so a
webhook test cross-checks the production verifier instead of agreeing with itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# RFC 8032 §7.1 TEST 1 secret key: the keypair of the Telnyx vector in VECTORS.md.
TELNYX_VECTOR_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def twilio_signature(auth_token: str, url: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` for a request to ``url`` carrying form ``pairs``."""
    by_key: dict[str, set[str]] = {}
    for key, value in pairs:
        by_key.setdefault(key, set()).add(value)
    signed = url + "".join(k + v for k in sorted(by_key) for v in sorted(by_key[k]))
    mac = hmac.new(auth_token.encode(), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def twilio_signed_form(
    auth_token: str, url: str, pairs: list[tuple[str, str]]
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a form POST signed the way Twilio signs it."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(auth_token, url, pairs),
    }
    return urlencode(pairs).encode(), headers


def telnyx_keypair(seed: bytes | None = None) -> tuple[Ed25519PrivateKey, str]:
    """(private key, base64 public key as the Telnyx portal shows it)."""
    key = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(public).decode()


def telnyx_sign(private_key: Ed25519PrivateKey | bytes, timestamp: int | str, body: bytes) -> dict[str, str]:
    """Headers Telnyx sends: Ed25519 over ``f"{timestamp}|".encode() + body``.

    ``private_key`` may be a key object or a 32-byte seed.
    """
    if isinstance(private_key, bytes):
        private_key = Ed25519PrivateKey.from_private_bytes(private_key)
    signature = private_key.sign(f"{timestamp}|".encode() + body)
    return {
        "Content-Type": "application/json",
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": str(timestamp),
    }


def meta_signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signed_headers(app_secret: str, body: bytes) -> dict[str, str]:
    """Headers of a Meta webhook POST."""
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(app_secret, body),
    }


def simulator_signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """Headers the simulator page sends: hex HMAC-SHA256 of the body."""
    return {
        "Content-Type": "application/json",
        "X-CareRelay-Simulator-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
