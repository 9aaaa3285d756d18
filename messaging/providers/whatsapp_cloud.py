"""Meta WhatsApp Business Cloud API (Graph API): send, verify and parse webhooks."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from typing import Any

import httpx

from messaging.providers._http import (
    as_dict,
    parse_retry_after,
    redact,
    text,
)
from messaging.providers._whatsapp_payloads import InvalidContent, request_body
from messaging.providers._whatsapp_webhooks import parse_payload
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.declaration import (
    WHATSAPP,
    AddressRule,
    CredentialField,
    KindOption,
    ProviderDeclaration,
    WebhookUrlSpec,
    numeric_id,
)
from messaging.providers.messages import (
    ChannelConfig,
    OutboundMessage,
    SendOutcome,
    SendResult,
    VerifyResult,
    WebhookBatch,
)
from messaging.providers.registry import register
from messaging.providers.webhook_request import WebhookRequest

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="

WINDOW_CLOSED_CODES = frozenset({"131047"})
# 130429 throughput, 131056 pair rate limit (PROVIDERS.md §3.1); 2, 4 and 80007 are the
# Graph API's general "temporarily unavailable" / "too many calls" / WABA rate-limit codes.
RETRY_CODES = frozenset({"130429", "131056", "2", "4", "80007"})
_EXPLANATIONS = {
    "190": "Meta rejected the access token (expired or revoked): reconnect the channel.",
    "131026": "The recipient cannot receive WhatsApp messages from this number.",
    "131047": "More than 24 hours since the patient last wrote: send an approved template.",
    "131056": "Too many messages to this patient in a short time; the message will be retried.",
    "130429": "WhatsApp throughput limit reached; the message will be retried.",
}


@register("whatsapp_cloud")
class WhatsAppCloudBackend(ProviderBackend):
    """WhatsApp through Meta's Cloud API; ``ChannelConfig.address`` is the phone-number id.

    ``api_base_url`` includes the Graph version (default ``…/v21.0``): pin it.
    """

    capabilities = frozenset({Capability.MEDIA, Capability.TEMPLATES, Capability.INTERACTIVE})
    declaration = ProviderDeclaration(
        label="WhatsApp Cloud API",
        summary="WhatsApp through Meta's Cloud API (a WhatsApp Business Account and a Meta app).",
        kinds=(KindOption(WHATSAPP, "WhatsApp", AddressRule(
            "Phone-number ID", "The numeric id from WhatsApp Manager, not the number",
            numeric_id("phone-number ID"), placeholder="106540352242922")),),
        credentials=(
            CredentialField("access_token", "Access token", secret=True,
                            help_text="A permanent System User token with whatsapp_business_messaging"),
            # Meta signs webhook deliveries with the app secret (X-Hub-Signature-256).
            CredentialField("app_secret", "App secret", secret=True, verifies_webhooks=True,
                            help_text="App dashboard → App settings → Basic → App secret"),
            CredentialField("verify_token", "Verify token", secret=True,
                            help_text="Any long random string; type the same one into Meta's webhook set-up"),
        ),
        webhook_urls=(
            WebhookUrlSpec("Callback URL",
                           "App dashboard → WhatsApp → Configuration. Use the verify token you set here "
                           "and subscribe to the “messages” field."),
        ),
        instructions=(
            "In WhatsApp Manager copy the phone-number ID (not the number itself).",
            "Create a System User token with whatsapp_business_messaging; copy the app secret.",
            "Paste the channel's callback URL (shown once the channel is saved) with your verify token: "
            "Meta calls it once to check the token, then signs every delivery with the app secret.",
        ),
        order=30,
    )
    default_api_base_url = "https://graph.facebook.com/v21.0"
    base_url_setting = "WHATSAPP_GRAPH_BASE_URL"

    def __init__(self, **options: Any) -> None:
        """See ``ProviderBackend.__init__``; options: ``api_base_url``, ``timeout``."""
        super().__init__(**options)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            return self._client

    # ------------------------------------------------------------------ sending
    def send(self, config: ChannelConfig, message: OutboundMessage) -> SendResult:
        """POST /{phone_number_id}/messages; see ``ProviderBackend.send``.

        Acceptance is not delivery: 131047/131026 usually arrive later in a ``failed``
        status webhook (``StatusUpdate.failure_outcome``), sometimes synchronously.
        """
        token = config.credential("access_token")
        if not token or not config.address:
            return _result(
                SendOutcome.PERMANENT_FAILURE,
                "missing_credentials",
                "Add the WhatsApp phone-number id and access token to the channel.",
            )
        try:
            payload = request_body(message)
        except InvalidContent as exc:
            return _result(SendOutcome.PERMANENT_FAILURE, "invalid_content", str(exc))
        url = f"{self.api_base_url}/{config.address}/messages"
        try:
            response = self._http().post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException:
            return _result(SendOutcome.RETRY_LATER, "timeout", "WhatsApp did not answer in time.")
        except httpx.HTTPError as exc:
            return _result(
                SendOutcome.RETRY_LATER,
                "connection_error",
                f"Could not reach WhatsApp ({type(exc).__name__}).",
            )
        data = _json_or_empty(response)
        if 200 <= response.status_code < 300:
            messages = data.get("messages")
            first = as_dict(messages[0]) if isinstance(messages, list) and messages else {}
            return SendResult(
                SendOutcome.ACCEPTED,
                provider_message_id=text(first.get("id")),
                raw_status=text(first.get("message_status")) or "accepted",
                http_status=response.status_code,
            )
        return self._error(response, data, message)

    def _error(self, response: httpx.Response, data: dict[str, Any], message: OutboundMessage) -> SendResult:
        error = as_dict(data.get("error"))
        code = text(error.get("code"))
        outcome = classify(code, response.status_code)
        if error.get("is_transient") is True and outcome is SendOutcome.PERMANENT_FAILURE:
            outcome = SendOutcome.RETRY_LATER  # Graph flags errors worth retrying
        retry_after = None
        if outcome is SendOutcome.RETRY_LATER:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        details = text(as_dict(error.get("error_data")).get("details"))
        logger.info("whatsapp send failed: http=%s code=%s outcome=%s", response.status_code, code, outcome)
        return SendResult(
            outcome,
            error_code=code or str(response.status_code),
            error_message=_EXPLANATIONS.get(code)
            or redact(details or text(error.get("message")), message)
            or f"WhatsApp answered HTTP {response.status_code}.",
            retry_after=retry_after,
            http_status=response.status_code,
        )

    # ------------------------------------------------------------------ webhooks
    def verify_webhook(self, config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
        """GET: the subscription handshake; POST: X-Hub-Signature-256 over the raw body.

        A good handshake returns ``challenge`` to echo with 200; anything else fails
        (answer 403). Meta signs the body exactly as sent (escaped unicode), so only the
        raw bytes verify.
        """
        if request.is_get:
            return _verify_handshake(config, request)
        app_secret = config.credential("app_secret")
        if not app_secret:
            return VerifyResult(False, "channel has no WhatsApp app secret")
        header = request.header(SIGNATURE_HEADER).strip()
        if not header.startswith(SIGNATURE_PREFIX):
            return VerifyResult(False, "missing or malformed X-Hub-Signature-256 header")
        expected = hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
        provided = header[len(SIGNATURE_PREFIX) :].lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), provided):
            return VerifyResult(False, "X-Hub-Signature-256 does not match")
        return VerifyResult(True)

    def fetch_media(self, config: ChannelConfig, media: Any, *, max_bytes: int = 10 * 1024 * 1024) -> Any:
        """GET /{media-id} (Bearer) for the short-lived URL, then GET that URL (Bearer again)."""
        from messaging.providers.media import MediaTooLarge, MediaUnavailable, download

        token = config.credential("access_token")
        media_id = getattr(media, "provider_media_id", "")
        if not token or not media_id or "/" in media_id:
            raise MediaUnavailable("no media id or access token")
        auth = {"Authorization": f"Bearer {token}"}
        try:
            response = self._http().get(f"{self.api_base_url}/{media_id}", headers=auth)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media lookup failed ({type(exc).__name__})") from None
        info = _json_or_empty(response)
        if response.status_code != 200 or not isinstance(info.get("url"), str):
            raise MediaUnavailable(f"media lookup answered HTTP {response.status_code}")
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise MediaTooLarge("media is larger than the limit")
        fetched = download(self._http(), info["url"], headers=auth, max_bytes=max_bytes)
        return type(fetched)(fetched.content, str(info.get("mime_type") or fetched.content_type))

    def parse_webhook(self, config: ChannelConfig, request: WebhookRequest) -> WebhookBatch:
        """Parse every message and status in every ``entry[].changes[]`` of the body."""
        inbound, statuses = parse_payload(request.json("WhatsApp"), classify)
        return WebhookBatch(inbound=inbound, statuses=statuses)


def classify(code: str, http_status: int | None) -> SendOutcome:
    """Classify a Graph/WhatsApp error code (as a string) and HTTP status."""
    if code in WINDOW_CLOSED_CODES:
        return SendOutcome.WINDOW_CLOSED
    if code in RETRY_CODES:
        return SendOutcome.RETRY_LATER
    if http_status is not None and (http_status == 429 or http_status >= 500):
        return SendOutcome.RETRY_LATER
    return SendOutcome.PERMANENT_FAILURE


def _verify_handshake(config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
    verify_token = config.credential("verify_token")
    if not verify_token:
        return VerifyResult(False, "channel has no WhatsApp verify token")
    if request.query("hub.mode") != "subscribe":
        return VerifyResult(False, "hub.mode is not subscribe")
    provided = request.query("hub.verify_token").encode("utf-8", "replace")
    if not hmac.compare_digest(verify_token.encode(), provided):
        return VerifyResult(False, "hub.verify_token does not match")
    return VerifyResult(True, challenge=request.query("hub.challenge"))


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        return as_dict(response.json())
    except ValueError:
        return {}


def _result(outcome: SendOutcome, code: str, message: str) -> SendResult:
    return SendResult(outcome, error_code=code, error_message=message)
