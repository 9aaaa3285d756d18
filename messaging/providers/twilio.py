"""Twilio Programmable Messaging: SMS, MMS and WhatsApp through Twilio.

Sends go through the official ``twilio`` SDK; its HTTP client is swapped for our own
(``_twilio_http``: urllib3's pool, cheaper per request than the SDK's ``requests`` client) that
sends every request to ``api_base_url``, so tests and local runs can use a fake.
Webhooks are verified with X-Twilio-Signature (HMAC-SHA1, VECTORS.md §1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The Messages resource's modules, loaded with this one rather than by the SDK on a worker's first
# send (~80 ms, more on a busy host, spent after the send-time cap admitted the message: a
# late first request then lands in the same provider second as a later one).
import twilio.rest.api.v2010.account.message  # noqa: F401
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from messaging.providers import _twilio_codes as codes
from messaging.providers._http import (
    WebhookPayloadError,
    lower_headers,
    parse_retry_after,
    redact,
)
from messaging.providers._twilio_http import BaseUrlHttpClient, TransportError, TransportTimeout
from messaging.providers._twilio_setup import DECLARATION
from messaging.providers._twilio_webhooks import (
    compute_signature,
    first,
    inbound_message,
    status_update,
    url_variants,
)
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.messages import (
    ChannelConfig,
    OutboundMessage,
    SendOutcome,
    SendResult,
    SentLookup,
    SentLookupOutcome,
    VerifyResult,
    WebhookBatch,
    WebhookReply,
)
from messaging.providers.registry import register
from messaging.providers.webhook_request import WebhookRequest

logger = logging.getLogger(__name__)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
SIGNATURE_HEADER = "x-twilio-signature"
# The SDK falls back to os.environ when ``environment`` is empty/None; a non-empty mapping
# of blanks makes it read nothing from the process environment.
_NO_ENVIRONMENT = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}
# Distinct Twilio accounts a thread keeps a client for (one per channel credentials) before starting over.
_CLIENTS_PER_THREAD = 256


@register("twilio")
class TwilioBackend(ProviderBackend):
    """Twilio SMS/MMS, and WhatsApp when ``ChannelConfig.is_whatsapp`` is set."""

    capabilities = frozenset({Capability.MEDIA, Capability.TEMPLATES, Capability.FIND_SENT})
    declaration = DECLARATION
    default_api_base_url = "https://api.twilio.com"
    base_url_setting = "TWILIO_API_BASE_URL"

    def __init__(self, **options: Any) -> None:
        """See ``ProviderBackend.__init__``; options: ``api_base_url``, ``timeout``."""
        super().__init__(**options)
        self._local = threading.local()

    # ------------------------------------------------------------------ sending
    def send(self, config: ChannelConfig, message: OutboundMessage) -> SendResult:
        """Create a Message resource; see ``ProviderBackend.send``."""
        account_sid = config.credential("account_sid")
        auth_token = config.credential("auth_token")
        if not account_sid or not auth_token:
            return _permanent("missing_credentials", "Add the Twilio Account SID and Auth Token.")
        if message.interactive is not None:
            return _permanent(
                "unsupported_content",
                "Twilio interactive messages need a Content template: send a template.",
            )
        http_client = self._http_client()
        client = self.client_for(account_sid, auth_token, http_client)
        try:
            created = client.messages.create(**self.create_params(config, message))
        except TwilioRestException as exc:
            return self._rest_error(exc.status, exc.code, exc.msg, http_client, message)
        except TwilioServiceException as exc:
            text = exc.detail or exc.title
            return self._rest_error(exc.status, exc.code, text, http_client, message)
        except TransportTimeout:
            return _retry("timeout", "Twilio did not answer in time.")
        except TransportError as exc:
            return _retry("connection_error", f"Could not reach Twilio ({exc}).")
        status = getattr(created.status, "value", created.status)
        return SendResult(SendOutcome.ACCEPTED, provider_message_id=created.sid or "", raw_status=str(status))

    def fetch_media(self, config: ChannelConfig, media: Any, *, max_bytes: int = 10 * 1024 * 1024) -> Any:
        """GET the MediaUrl with the account's Basic auth; Twilio redirects to the file itself."""
        import httpx

        from messaging.providers.media import MediaUnavailable, download

        url = getattr(media, "url", "")
        parts = urlsplit(url)
        account_sid, auth_token = config.credential("account_sid"), config.credential("auth_token")
        # Only Twilio's own media resources of this account: the URL came in a webhook.
        if not parts.path.startswith(f"/2010-04-01/Accounts/{account_sid}/") or not auth_token:
            raise MediaUnavailable("not a media resource of this Twilio account")
        with httpx.Client(timeout=self.timeout) as client:
            return download(client, self._http_client().rewrite(url), auth=(account_sid, auth_token),
                            max_bytes=max_bytes)

    def client_for(self, account_sid: str, auth_token: str, http_client: BaseUrlHttpClient) -> Client:
        """An SDK client for one channel's credentials that ignores the process environment.

        Without this the SDK would take TWILIO_EDGE/TWILIO_REGION (re-routing to a
        regional host) and, for missing credentials, TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN
        (another tenant's account) from os.environ.
        """
        # One per thread and credentials: building the client and its resource objects was a
        # quarter of a send's CPU. The credentials are the channel's, already in memory.
        clients = self._local.__dict__.setdefault("clients", {})
        key = (account_sid, auth_token, id(http_client))
        client = clients.get(key)
        if client is None:
            if len(clients) >= _CLIENTS_PER_THREAD:
                clients.clear()
            client = clients[key] = Client(
                username=account_sid,
                password=auth_token,
                http_client=http_client,
                environment=_NO_ENVIRONMENT,
            )
        return client

    def create_params(self, config: ChannelConfig, message: OutboundMessage) -> dict[str, Any]:
        """Keyword arguments for ``client.messages.create`` (the form fields Twilio gets)."""
        prefix = "whatsapp:" if config.is_whatsapp else ""
        params: dict[str, Any] = {"to": prefix + message.to}
        if config.address.startswith("MG"):
            params["messaging_service_sid"] = config.address
        else:
            params["from_"] = prefix + config.address
        if message.template is not None:
            # A Content template replaces Body/MediaUrl entirely (PROVIDERS.md §1.7).
            params["content_sid"] = message.template.name
            params["content_variables"] = json.dumps(content_variables(message.template))
        else:
            if message.body:
                params["body"] = message.body
            if message.media_urls:
                params["media_url"] = list(message.media_urls)
        if config.status_callback_url:
            params["status_callback"] = with_reference(config.status_callback_url, message.correlation_data)
        return params

    def find_sent(self, config: ChannelConfig, message: OutboundMessage, *,
                  sent_after: datetime) -> SentLookup:
        """Twilio's Messages list filtered by To, From and DateSent (PROVIDERS.md §1): a message
        of ours to that number since the interrupted attempt began, with the same body (or Content
        template), is the one it accepted. Twilio keys nothing on our reference, so the match is
        by those fields; the reference still travels in the status-callback URL."""
        account_sid, auth_token = config.credential("account_sid"), config.credential("auth_token")
        if not account_sid or not auth_token:
            return SentLookup(SentLookupOutcome.UNKNOWN, detail="The channel has no Twilio credentials.")
        params = self.create_params(config, message)
        http_client = self._http_client()
        client = self.client_for(account_sid, auth_token, http_client)
        # DateSent is a GMT date filter; the clock skew margin keeps a send just before midnight.
        since = sent_after - timedelta(minutes=2)
        filters: dict[str, Any] = {"to": params["to"], "date_sent_after": since, "limit": 200,
                                   "page_size": 100}
        if "from_" in params:
            filters["from_"] = params["from_"]
        try:
            found = client.messages.list(**filters)
        except TwilioException:  # the list's pages raise the base class on any non-200
            return SentLookup(SentLookupOutcome.RETRY_LATER,
                              detail="Twilio's message list did not answer (it is asked again shortly).")
        except TransportError as exc:
            return SentLookup(SentLookupOutcome.RETRY_LATER, detail=f"Could not reach Twilio ({exc}).")
        for candidate in found:
            if not _same_message(candidate, params, since):
                continue
            status = getattr(candidate.status, "value", candidate.status)
            return SentLookup(SentLookupOutcome.FOUND, provider_message_id=candidate.sid or "",
                              raw_status=str(status))
        return SentLookup(SentLookupOutcome.NOT_FOUND, detail="Twilio has no such message.")

    def _http_client(self) -> BaseUrlHttpClient:
        client = getattr(self._local, "http_client", None)
        if client is None:
            client = self._local.http_client = BaseUrlHttpClient(self.api_base_url, self.timeout)
        return client

    def _rest_error(
        self,
        http_status: int,
        code: int | None,
        text: str,
        http_client: BaseUrlHttpClient,
        message: OutboundMessage,
    ) -> SendResult:
        outcome = codes.outcome_for(code, http_status)
        retry_after = None
        if outcome is SendOutcome.RETRY_LATER and http_client.last_response is not None:
            headers = lower_headers(http_client.last_response.headers)
            retry_after = parse_retry_after(headers.get("retry-after"))
        error_code = str(code) if code is not None else str(http_status)
        logger.info("twilio send failed: http=%s code=%s outcome=%s", http_status, code, outcome)
        return SendResult(
            outcome,
            error_code=error_code,
            error_message=codes.explain(code) or redact(text, message),
            retry_after=retry_after,
            http_status=http_status,
        )

    # ------------------------------------------------------------------ webhooks
    def verify_webhook(self, config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
        """Check X-Twilio-Signature over the URL and every form parameter (VECTORS.md §1).

        The URL is tried as given, with the default port added and with it removed,
        because Twilio is inconsistent about ports. JSON bodies are covered through the
        ``bodySHA256`` query parameter instead of form parameters.
        """
        auth_token = config.credential("auth_token")
        if not auth_token:
            return VerifyResult(False, "channel has no Twilio auth token")
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            return VerifyResult(False, "missing X-Twilio-Signature header")
        body_hash = request.query("bodySHA256")
        if body_hash:
            expected_hash = hashlib.sha256(request.body).hexdigest()
            if not hmac.compare_digest(expected_hash.encode(), body_hash.encode("utf-8", "replace")):
                return VerifyResult(False, "body does not match bodySHA256")
            pairs: list[tuple[str, str]] = []
        elif request.is_get:
            pairs = []  # a GET is signed over the URL (with its query) only
        else:
            # The form is the signed material itself: reading it here is part of verifying.
            try:
                pairs = request.form()
            except WebhookPayloadError as exc:
                return VerifyResult(False, str(exc))
        provided = signature.encode("utf-8", "replace")
        for candidate in url_variants(request.url):
            expected = compute_signature(auth_token, candidate, pairs).encode()
            if hmac.compare_digest(expected, provided):
                return VerifyResult(True)
        return VerifyResult(False, "X-Twilio-Signature does not match")

    def parse_webhook(self, config: ChannelConfig, request: WebhookRequest) -> WebhookBatch:
        """Parse an inbound message (answered with empty TwiML) or a status callback.

        Every value of a repeated parameter is kept (an MMS may list ``MediaUrl`` several times).
        """
        fields = request.form_values()
        if "MessageStatus" in fields:
            update = status_update(fields)
            return WebhookBatch(statuses=[update] if update else [])
        if not first(fields, "MessageSid"):
            raise WebhookPayloadError("Twilio webhook has no MessageSid")
        reply = WebhookReply(200, "text/xml", EMPTY_TWIML)
        return WebhookBatch(inbound=[inbound_message(fields)], reply=reply)


def content_variables(template: Any) -> dict[str, str]:
    """ContentVariables for a template: ``{"1": …, "2": …}`` or the named mapping."""
    parameters = template.parameters
    if isinstance(parameters, Mapping):
        return {str(k): str(v) for k, v in parameters.items()}
    values: dict[str, str] = {}
    for position, value in enumerate(parameters, start=1):
        # Meta-style rich parameters carry a display text in "fallback_value"/"text".
        if isinstance(value, Mapping):
            value = value.get("text") or value.get("fallback_value") or ""
        values[str(position)] = str(value)
    return values


def with_reference(url: str, reference: str) -> str:
    """The status-callback URL carrying our message reference (``?ref=msg-42``), so every
    callback names the message even before its sid is stored."""
    if not reference:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    query.append(("ref", reference))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _same_message(candidate: Any, params: Mapping[str, Any], since: datetime) -> bool:
    """Whether a listed Message resource is the send ``params`` describe (outbound, same
    sender, body or template, created since ``since``)."""
    direction = str(getattr(candidate.direction, "value", candidate.direction) or "")
    if not direction.startswith("outbound"):
        return False
    created = candidate.date_created or candidate.date_sent
    if created is not None and created < since:
        return False
    service = params.get("messaging_service_sid")
    if service and candidate.messaging_service_sid != service:
        return False
    if "body" in params:
        return (candidate.body or "") == params["body"]
    return True  # a Content template: Twilio lists the rendered text, not our parameters


def _permanent(code: str, text: str) -> SendResult:
    return SendResult(SendOutcome.PERMANENT_FAILURE, error_code=code, error_message=text)


def _retry(code: str, text: str) -> SendResult:
    return SendResult(SendOutcome.RETRY_LATER, error_code=code, error_message=text)
