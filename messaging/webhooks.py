"""Provider webhooks: ``/webhooks/<provider>/<webhook_id>/``.

Order of work, for every request: find the channel the URL names (404 if unknown or the
provider differs) → verify the provider's signature over the raw request (403 if it fails;
nothing is read or written before that) → parse (400 if unreadable) → store inside the
channel organisation's scope → answer what the provider expects (Twilio: empty TwiML).

Every failed verification — missing, malformed, forged, tampered or stale signature —
answers 403 (never 401: providers cannot answer an authentication challenge, and one code
keeps monitoring simple). Meta's GET subscription handshake answers 200 + the challenge
when the verify token matches, else 403.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.tenancy import organization_scope
from messaging.channel_cache import channel_for_webhook
from messaging.channel_config import backend_for, channel_config
from messaging.models import Channel
from messaging.providers import UnknownProviderError, WebhookPayloadError, WebhookReply, WebhookRequest
from messaging.services.inbound import receive_inbound
from messaging.services.statuses import apply_status_update

logger = logging.getLogger(__name__)

NOT_FOUND = WebhookReply(404, "text/plain", b"Unknown webhook.")
FORBIDDEN = WebhookReply(403, "text/plain", b"Signature verification failed.")
BAD_REQUEST = WebhookReply(400, "text/plain", b"Unreadable webhook body.")


def process_webhook(channel: Channel, request: WebhookRequest) -> WebhookReply:
    """Verify, parse and store one webhook request for ``channel``; returns the HTTP answer.

    ``request.url`` is the public URL the provider called (query string included);
    ``request.body`` the raw bytes. The simulator page calls this directly with a signed body.
    """
    try:
        backend = backend_for(channel)
    except UnknownProviderError:
        return NOT_FOUND
    config = channel_config(channel)
    verified = backend.verify_webhook(config, request)
    if not verified:
        logger.warning("webhook refused for channel %s: %s", channel.pk, verified.reason)
        return FORBIDDEN
    if request.is_get:
        if verified.challenge is None:
            return WebhookReply(405, "text/plain", b"Use POST.")
        return WebhookReply(200, "text/plain", verified.challenge.encode())
    try:
        batch = backend.parse_webhook(config, request)
    except WebhookPayloadError as error:
        logger.warning("unreadable webhook for channel %s: %s", channel.pk, error)
        return BAD_REQUEST
    with organization_scope(channel.organization):
        for inbound in batch.inbound:
            receive_inbound(channel, inbound)
        for update in batch.statuses:
            apply_status_update(channel, update)
    return batch.reply


def find_channel(provider: str, webhook_id: UUID) -> Channel | None:
    """The channel a webhook URL names, or None (unknown id, or another provider's URL)."""
    channel = channel_for_webhook(webhook_id)
    if channel is None or channel.provider != provider:
        return None
    return channel


# CSRF-exempt only because every request is authenticated by the provider's signature
# (process_webhook verifies it before the body is used); providers cannot send CSRF tokens.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def provider_webhook(request: HttpRequest, provider: str, webhook_id: UUID) -> HttpResponse:
    """The endpoint providers call; thin: the work is in ``process_webhook``."""
    channel = find_channel(provider, webhook_id)
    if channel is None:
        reply = NOT_FOUND
    else:
        # The URL the provider signed: PUBLIC_BASE_URL (behind a TLS proxy the request's own URL
        # is the internal one) + path + the query string as sent. The body stays raw bytes until
        # the backend has verified it.
        webhook_request = WebhookRequest.from_django(request, settings.PUBLIC_BASE_URL + request.path)
        # process_webhook enters the channel's scope for the part that reads and writes rows.
        reply = process_webhook(channel, webhook_request)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
