"""The embedded default backend: no provider account, the patient is a web page.

- ``send`` always succeeds with an id ``sim_<uuid hex>``; nothing leaves the process.
  Marking the message delivered (immediately, or when the simulator page shows it) is
  the caller's business: this backend never produces status updates on its own.
- The simulator page posts what the "patient" types through the same webhook pipeline
  as real providers: a JSON body signed with HMAC-SHA256 under the channel's webhook
  secret in ``X-CareRelay-Simulator-Signature`` (lower-case hex; see ``sign_body``).
- Body: ``{"id", "from", "to", "body"}`` for an inbound message, or
  ``{"id", "status"}`` (+ optional ``error_code``) to simulate a delivery receipt.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from messaging.providers._http import (
    WebhookPayloadError,
    normalise_phone,
    text,
    utc_now,
)
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.declaration import (
    SMS,
    WHATSAPP,
    AddressRule,
    KindOption,
    ProviderDeclaration,
    WebhookUrlSpec,
    e164_phone,
)
from messaging.providers.messages import (
    ChannelConfig,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    SendOutcome,
    SendResult,
    SentLookup,
    SentLookupOutcome,
    StatusUpdate,
    VerifyResult,
    WebhookBatch,
)
from messaging.providers.registry import register
from messaging.providers.webhook_request import WebhookRequest

SIGNATURE_HEADER = "x-carerelay-simulator-signature"
_ADDRESS = AddressRule("Simulated number", "Any E.164 number, e.g. +15005550006", e164_phone,
                       placeholder="+15005550006")
MESSAGE_ID_PREFIX = "sim_"


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-CareRelay-Simulator-Signature`` value for ``body``: hex HMAC-SHA256."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register("simulator")
class SimulatorBackend(ProviderBackend):
    """Accepts every message and reads webhooks posted by the simulator page."""

    capabilities = frozenset({Capability.MEDIA, Capability.TEMPLATES, Capability.INTERACTIVE,
                              Capability.FIND_SENT})
    declaration = ProviderDeclaration(
        label="Simulator (built in)",
        summary="No provider account: you play the patient on the Simulator page.",
        kinds=(
            KindOption(SMS, "SMS", _ADDRESS),
            KindOption(WHATSAPP, "WhatsApp (simulated: templates and the 24-hour window apply)", _ADDRESS),
        ),
        webhook_urls=(
            WebhookUrlSpec("Simulator webhook",
                           "Nothing to configure: the Simulator page posts to it for you."),
        ),
        instructions=(
            "The simulator needs no provider account: messages stay inside CareRelay and you answer "
            "them as the patient on the Simulator page.",
            "Send a test message to any number, then open the Simulator with the same number "
            "to see it arrive.",
        ),
        generates_webhook_secret=True,
        plays_patient_in_browser=True,
        embedded_default=True,
        order=0,
    )

    def send(self, config: ChannelConfig, message: OutboundMessage) -> SendResult:
        """Accept the message without sending anything; returns ``sim_<uuid hex>``."""
        return SendResult(
            SendOutcome.ACCEPTED,
            provider_message_id=f"{MESSAGE_ID_PREFIX}{uuid.uuid4().hex}",
            raw_status="accepted",
        )

    def find_sent(self, config: ChannelConfig, message: OutboundMessage, *,
                  sent_after: datetime) -> SentLookup:
        """Nothing leaves CareRelay: an interrupted simulated send reached no one, so sending is safe."""
        return SentLookup(SentLookupOutcome.NOT_FOUND, detail="The simulator keeps no messages of its own.")

    def verify_webhook(self, config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
        """Check the HMAC-SHA256 of the raw body under the channel's webhook secret."""
        secret = config.webhook_secret_or_public_key
        if not secret:
            return VerifyResult(False, "channel has no simulator webhook secret")
        provided = request.header(SIGNATURE_HEADER).strip().lower()
        if not provided:
            return VerifyResult(False, "missing X-CareRelay-Simulator-Signature header")
        expected = sign_body(secret, request.body)
        if not hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace")):
            return VerifyResult(False, "simulator signature does not match")
        return VerifyResult(True)

    def parse_webhook(self, config: ChannelConfig, request: WebhookRequest) -> WebhookBatch:
        """Read one simulated inbound message or one simulated status update."""
        data = request.json("Simulator")
        message_id = text(data.get("id"))
        if not message_id:
            raise WebhookPayloadError("Simulator webhook has no id")
        if "status" in data:
            return WebhookBatch(statuses=[_status_update(message_id, data)])
        sender, sender_is_phone = normalise_phone(text(data.get("from")))
        recipient, _ = normalise_phone(text(data.get("to")) or config.address)
        inbound = InboundMessage(
            provider_message_id=message_id,
            from_address=sender,
            from_is_phone=sender_is_phone,
            to_address=recipient,
            body=text(data.get("body")),
            received_at=utc_now(),
        )
        return WebhookBatch(inbound=[inbound])


def _status_update(message_id: str, data: dict[str, Any]) -> StatusUpdate:
    raw_status = text(data.get("status"))
    try:
        status = MessageStatus(raw_status)
    except ValueError:
        raise WebhookPayloadError("Simulator status is not a known status") from None
    failed = status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
    return StatusUpdate(
        provider_message_id=message_id,
        status=status,
        raw_status=raw_status,
        dedupe_key=f"{message_id}:{raw_status}",
        error_code=text(data.get("error_code")),
        occurred_at=utc_now(),
        failure_outcome=SendOutcome.PERMANENT_FAILURE if failed else None,
    )
