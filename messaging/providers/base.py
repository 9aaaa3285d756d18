"""The interface every provider backend implements.

A backend is a class registered under a key (see ``registry.py``). It is stateless
apart from where it sends requests (``api_base_url``, so tests can point it at a fake),
and it works on the plain dataclasses of ``messages.py``; the Django models are
translated into those by the caller. Nothing outside a backend module branches on
provider names: ask the backend (``capabilities``, ``send``, ``verify_webhook`` …).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from messaging.providers._http import WebhookPayloadError
from messaging.providers.messages import (
    ChannelConfig,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    SendOutcome,
    SendResult,
    StatusUpdate,
    VerifyResult,
    WebhookBatch,
    WebhookReply,
)

if TYPE_CHECKING:  # Django stays optional: only the request helpers below touch it.
    from django.http import HttpRequest

__all__ = [
    "Capability",
    "ChannelConfig",
    "InboundMessage",
    "MessageStatus",
    "OutboundMessage",
    "ProviderBackend",
    "SendOutcome",
    "SendResult",
    "StatusUpdate",
    "VerifyResult",
    "WebhookBatch",
    "WebhookPayloadError",
    "WebhookReply",
]

DEFAULT_TIMEOUT_SECONDS = 10.0


class Capability(enum.StrEnum):
    """What a backend can send, so the UI and services need not know provider names."""

    MEDIA = "media"
    TEMPLATES = "templates"
    INTERACTIVE = "interactive"


class ProviderBackend(ABC):
    """Base class of all provider backends.

    Contract:
    - ``send`` never raises for provider, network or content problems: it returns a
      ``SendResult`` whose ``outcome`` says what to do next.
    - ``verify_webhook`` never raises: malformed signatures are a failed ``VerifyResult``.
    - ``parse_webhook`` is called only after verification succeeded; it raises
      ``WebhookPayloadError`` (answer 400) when the body cannot be understood, and
      returns an empty batch for well-formed events it does not care about.
    """

    key: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    default_api_base_url: ClassVar[str] = ""
    # Django setting that overrides default_api_base_url (read by get_configured_backend).
    base_url_setting: ClassVar[str] = ""

    def __init__(self, *, api_base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """Create a backend that talks to ``api_base_url`` (default: the real provider)."""
        self.api_base_url = (api_base_url or self.default_api_base_url).rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key} {self.api_base_url}>"

    @abstractmethod
    def send(self, config: ChannelConfig, message: OutboundMessage) -> SendResult:
        """Send ``message`` from the channel described by ``config``.

        Returns ACCEPTED with ``provider_message_id`` (store it: status webhooks refer to
        it), or another outcome with ``error_code``/``error_message`` and, for
        RETRY_LATER, ``retry_after`` when the provider said how long to wait. A timeout
        is RETRY_LATER although the provider may have accepted the message: the caller's
        outbox must reconcile before resending.
        """

    @abstractmethod
    def verify_webhook(
        self,
        config: ChannelConfig,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        form: Iterable[tuple[str, str]] | None,
        query: Mapping[str, str],
        now: int | None = None,
    ) -> VerifyResult:
        """Check that a webhook request really comes from the provider.

        ``url`` is the public URL the provider called, query string included; ``body``
        the raw bytes as received (never re-serialised); ``form`` the form pairs if the
        body is form-encoded (parsed from ``body`` when None); ``now`` Unix seconds, for
        tests of replay windows.
        """

    @abstractmethod
    def parse_webhook(
        self,
        config: ChannelConfig,
        *,
        headers: Mapping[str, str],
        body: bytes,
        form: Iterable[tuple[str, str]] | None,
    ) -> WebhookBatch:
        """Turn a verified webhook request into inbound messages and status updates."""

    def fetch_media(self, config: ChannelConfig, media: Any, *, max_bytes: int = 10 * 1024 * 1024) -> Any:
        """Download an inbound attachment (``InboundMedia``) → ``media.FetchedMedia``.

        Raises ``media.MediaUnavailable`` (``MediaTooLarge`` past ``max_bytes``). Backends
        whose channels receive media override it; the default has nothing to fetch from.
        """
        from messaging.providers.media import MediaUnavailable

        raise MediaUnavailable(f"the {self.key or 'this'} backend cannot download media")

    def verify_django_request(
        self, config: ChannelConfig, request: HttpRequest, public_url: str
    ) -> VerifyResult:
        """Verify a Django ``HttpRequest`` (see ``verify_webhook``).

        ``public_url`` is the URL the provider called, built from PUBLIC_BASE_URL (behind
        a TLS proxy the request's own URL is the internal http one). When it carries no
        query string the request's query string is appended.
        """
        parts = request_parts(request)
        url = public_url
        query_string = request.META.get("QUERY_STRING", "")
        if query_string and not urlsplit(public_url).query:
            url = f"{public_url}?{query_string}"
        return self.verify_webhook(config, url=url, **parts)

    def parse_django_request(self, config: ChannelConfig, request: HttpRequest) -> WebhookBatch:
        """Parse a verified Django ``HttpRequest`` (see ``parse_webhook``)."""
        parts = request_parts(request)
        return self.parse_webhook(config, headers=parts["headers"], body=parts["body"], form=parts["form"])


def request_parts(request: HttpRequest) -> dict[str, Any]:
    """Extract method, headers, raw body, form pairs and query from a Django request."""
    body = bytes(request.body)  # read first: Django refuses .body after streaming POST
    content_type = request.META.get("CONTENT_TYPE", "")
    form = None
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = [(key, value) for key, values in request.POST.lists() for value in values]
    return {
        "method": request.method or "GET",
        "headers": dict(request.headers),
        "body": body,
        "form": form,
        "query": {key: request.GET.get(key, "") for key in request.GET},
    }
