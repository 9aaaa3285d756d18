"""Telnyx inbound MMS media: each ``media[].url`` of a message.received event is a short-lived
signed URL, downloaded with a plain GET (Telnyx's receive-MMS guide: "fetched over plain HTTPS
from the signed media[].url values").

The signature in the URL is the credential, so no Authorization header is sent: the API key
never reaches the storage host. The URL came in a signed webhook, yet it is checked before
anything connects, as outbound event webhooks are (``accounts.event_webhooks.delivery``):
https only, no user-info, a host that resolves to public addresses only (loopback only where
``WEBHOOKS_ALLOW_LOOPBACK``: development and tests), and the connection pinned to the address
checked, so a DNS answer that changes meanwhile (rebinding) reaches nothing else; no redirect is
followed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from messaging.providers.media import FetchedMedia, MediaUnavailable, download


def fetch(url: str, *, timeout: float, max_bytes: int) -> FetchedMedia:
    """GET a Telnyx media URL (no credentials) through the SSRF guard; see the module doc."""
    from accounts.event_webhooks.delivery import RefusedTarget, pinned_client, resolve_target

    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise RefusedTarget("the URL carries credentials")
        address = resolve_target(url)
    except (RefusedTarget, ValueError):
        raise MediaUnavailable("the media URL is not a public https address") from None
    with pinned_client(address, timeout=timeout) as client:
        # A redirect would leave the checked URL (another scheme or port on the pinned address).
        return download(client, url, max_bytes=max_bytes, follow_redirects=False)
