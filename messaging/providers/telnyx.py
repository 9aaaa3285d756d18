"""Telnyx Messaging API v2: SMS and MMS over JSON, webhooks signed with Ed25519."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from datetime import datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from messaging.providers._http import (
    as_dict,
    as_list,
    parse_retry_after,
    redact,
    text,
)
from messaging.providers._telnyx_webhooks import (
    EXPLANATIONS,
    classify,
    error_text,
    inbound_message,
    status_updates,
)
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.declaration import (
    SMS,
    AddressRule,
    CredentialField,
    InvalidValue,
    KindOption,
    ProviderDeclaration,
    WebhookUrlSpec,
    e164_phone,
)
from messaging.providers.messages import (
    ChannelConfig,
    OutboundMessage,
    SendOutcome,
    SendResult,
    SentLookup,
    SentLookupOutcome,
    VerifyResult,
    WebhookBatch,
)
from messaging.providers.registry import register
from messaging.providers.webhook_request import WebhookRequest

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
REPLAY_WINDOW_SECONDS = 300  # the SDK rejects |now - timestamp| > 300 s, past and future


@register("telnyx")
class TelnyxBackend(ProviderBackend):
    """Telnyx SMS/MMS from a number, or from a number pool via ``messaging_profile_id``."""

    capabilities = frozenset({Capability.MEDIA, Capability.FIND_SENT})
    declaration = ProviderDeclaration(
        label="Telnyx",
        summary="SMS/MMS from a Telnyx number (API v2, webhooks signed with Ed25519).",
        kinds=(KindOption(SMS, "SMS / MMS", AddressRule("Sender number", "E.164, e.g. +14155550100",
                                                       e164_phone, placeholder="+14155550100")),),
        credentials=(
            CredentialField("api_key", "API key", secret=True, help_text="Starts with KEY…"),
            CredentialField("messaging_profile_id", "Messaging profile ID", secret=False, required=False),
            # Telnyx signs webhooks with Ed25519; we verify with the account's public key.
            CredentialField("public_key", "Webhook public key", secret=False, verifies_webhooks=True,
                            help_text="Mission Control → Account settings → Keys & credentials → Public key",
                            validate=lambda value: _public_key(value)),
        ),
        webhook_urls=(
            WebhookUrlSpec("Messaging profile webhook URL",
                           "Messaging → your profile → Inbound settings → Send a webhook to this URL "
                           "(API v2)."),
        ),
        instructions=(
            "Create an API key (Mission Control → Auth → API keys) and copy the account's public key.",
            "Assign the number to a messaging profile and paste the channel's webhook URL (shown once "
            "the channel is saved) into it.",
        ),
        order=20,
    )
    default_api_base_url = "https://api.telnyx.com/v2"
    base_url_setting = "TELNYX_API_BASE_URL"

    def __init__(self, **options: Any) -> None:
        """See ``ProviderBackend.__init__``; options: ``api_base_url``, ``timeout``."""
        super().__init__(**options)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._client_lock:  # httpx.Client is thread-safe once built; build it once
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            return self._client

    # ------------------------------------------------------------------ sending
    def send(self, config: ChannelConfig, message: OutboundMessage) -> SendResult:
        """POST /messages; see ``ProviderBackend.send``."""
        api_key = config.credential("api_key")
        if not api_key:
            return _result(
                SendOutcome.PERMANENT_FAILURE,
                "missing_credentials",
                "Add the Telnyx API key to the channel.",
            )
        if message.template is not None or message.interactive is not None:
            return _result(
                SendOutcome.PERMANENT_FAILURE,
                "unsupported_content",
                "Telnyx sends plain SMS/MMS: templates and buttons are WhatsApp-only.",
            )
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        try:
            response = self._http().post(
                f"{self.api_base_url}/messages",
                json=self.request_body(config, message),
                headers=headers,
            )
        except httpx.TimeoutException:
            return _result(SendOutcome.RETRY_LATER, "timeout", "Telnyx did not answer in time.")
        except httpx.HTTPError as exc:
            return _result(
                SendOutcome.RETRY_LATER,
                "connection_error",
                f"Could not reach Telnyx ({type(exc).__name__}).",
            )
        if 200 <= response.status_code < 300:
            data = as_dict(_json_or_empty(response).get("data"))
            recipients = as_list(data.get("to"))
            raw_status = text(as_dict(recipients[0]).get("status")) if recipients else ""
            return SendResult(
                SendOutcome.ACCEPTED,
                provider_message_id=text(data.get("id")),
                raw_status=raw_status,
                http_status=response.status_code,
            )
        return self._error(response, message)

    def find_sent(self, config: ChannelConfig, message: OutboundMessage, *,
                  sent_after: datetime) -> SentLookup:
        """Telnyx keys a send on its ``Idempotency-Key``: the same POST again answers the message
        it already accepted (or accepts it now, once). Either way the id returned is the one."""
        if not message.idempotency_key:
            return SentLookup(SentLookupOutcome.UNKNOWN, detail="The send carried no idempotency key.")
        result = self.send(config, message)
        if result.outcome is SendOutcome.ACCEPTED:
            return SentLookup(SentLookupOutcome.FOUND, provider_message_id=result.provider_message_id,
                              raw_status=result.raw_status)
        if result.outcome is SendOutcome.RETRY_LATER:
            return SentLookup(SentLookupOutcome.RETRY_LATER, detail=result.error_message,
                              retry_after=result.retry_after)
        return SentLookup(SentLookupOutcome.NOT_FOUND, detail=result.error_message)

    def request_body(self, config: ChannelConfig, message: OutboundMessage) -> dict[str, Any]:
        """The JSON body of POST /messages (PROVIDERS.md §2.1)."""
        body: dict[str, Any] = {"to": message.to}
        if config.address:
            body["from"] = config.address
        profile_id = config.credential("messaging_profile_id")
        if profile_id:
            body["messaging_profile_id"] = profile_id
        if message.body:
            body["text"] = message.body
        if message.media_urls:
            body["media_urls"] = list(message.media_urls)
        if config.status_callback_url:
            # Per-message URL wins over the profile's, so status reaches this channel.
            body["webhook_url"] = config.status_callback_url
            body["use_profile_webhooks"] = False
        return body

    def _error(self, response: httpx.Response, message: OutboundMessage) -> SendResult:
        errors = as_list(_json_or_empty(response).get("errors"))
        first = as_dict(errors[0]) if errors else {}
        code = text(first.get("code"))
        outcome = classify(code, response.status_code)
        retry_after = None
        if outcome is SendOutcome.RETRY_LATER:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        logger.info("telnyx send failed: http=%s code=%s outcome=%s", response.status_code, code, outcome)
        return SendResult(
            outcome,
            error_code=code or str(response.status_code),
            error_message=EXPLANATIONS.get(code)
            or redact(error_text(first), message)
            or f"Telnyx answered HTTP {response.status_code}.",
            retry_after=retry_after,
            http_status=response.status_code,
        )

    def fetch_media(self, config: ChannelConfig, media: Any, *, max_bytes: int = 10 * 1024 * 1024) -> Any:
        """GET the signed ``media[].url`` of an inbound MMS, without the API key (the URL's own
        signature authorises it); only public https hosts, see ``_telnyx_media``."""
        from messaging.providers._telnyx_media import fetch

        return fetch(getattr(media, "url", ""), timeout=self.timeout, max_bytes=max_bytes)

    # ------------------------------------------------------------------ webhooks
    def verify_webhook(self, config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
        """Check the Ed25519 signature of ``"{telnyx-timestamp}|" + raw body``.

        Rejects timestamps more than 300 s from ``now`` either way (replays), and any
        malformed header, base64 or key length, without raising.
        """
        signature_b64 = request.header(SIGNATURE_HEADER).strip()
        timestamp = request.header(TIMESTAMP_HEADER).strip()
        if not signature_b64 or not timestamp:
            return VerifyResult(False, "missing Telnyx signature headers")
        if not timestamp.isdigit() or len(timestamp) > 12:
            return VerifyResult(False, "malformed telnyx-timestamp header")
        current = int(time.time()) if request.now is None else request.now
        if abs(current - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return VerifyResult(False, "telnyx-timestamp outside the 300-second window")
        public_key = _decode_base64(config.webhook_secret_or_public_key, 32)
        if public_key is None:
            return VerifyResult(False, "channel's Telnyx public key is not 32 base64 bytes")
        signature = _decode_base64(signature_b64, 64)
        if signature is None:
            return VerifyResult(False, "malformed telnyx-signature-ed25519 header")
        try:
            signed = timestamp.encode() + b"|" + request.body
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
        except (InvalidSignature, ValueError):
            return VerifyResult(False, "Telnyx signature does not match")
        return VerifyResult(True)

    def parse_webhook(self, config: ChannelConfig, request: WebhookRequest) -> WebhookBatch:
        """Parse message.received, message.sent and message.finalized events."""
        data = as_dict(request.json("Telnyx").get("data"))
        event_type = text(data.get("event_type"))
        payload = as_dict(data.get("payload"))
        if event_type == "message.received":
            return WebhookBatch(inbound=[inbound_message(payload)])
        if event_type in ("message.sent", "message.finalized"):
            return WebhookBatch(statuses=status_updates(data, payload))
        logger.info("telnyx webhook ignored: event_type=%s", event_type)
        return WebhookBatch()


def _public_key(value: str) -> str:
    """A Telnyx public key as pasted: 32 bytes in base64, else ``InvalidValue``."""
    if _decode_base64(value, 32) is None:
        raise InvalidValue("The public key is 44 characters of base64 (32 bytes): copy it again from "
                           "Mission Control → Keys & credentials.")
    return value.strip()


def _decode_base64(value: str, expected_length: int) -> bytes | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == expected_length else None


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        return as_dict(response.json())
    except ValueError:
        return {}


def _result(outcome: SendOutcome, code: str, message: str) -> SendResult:
    return SendResult(outcome, error_code=code, error_message=message)
