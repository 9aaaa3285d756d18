"""The interface every provider backend implements.

A backend is a class registered under a key (see ``registry.py``). It is stateless
apart from where it sends requests (``api_base_url``, so tests can point it at a fake),
and it works on the plain dataclasses of ``messages.py``; the Django models are
translated into those by the caller. Nothing outside a backend module branches on
provider names: ask the backend (``declaration``, ``capabilities``, ``send``, ``verify_webhook`` …).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from messaging.providers._http import WebhookPayloadError
from messaging.providers.declaration import ProviderDeclaration
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
    WebhookReply,
)
from messaging.providers.webhook_request import WebhookRequest

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
    "SentLookup",
    "SentLookupOutcome",
    "StatusUpdate",
    "VerifyResult",
    "WebhookBatch",
    "WebhookPayloadError",
    "WebhookReply",
    "WebhookRequest",
]

DEFAULT_TIMEOUT_SECONDS = 10.0


class Capability(enum.StrEnum):
    """What a backend can send, so the UI and services need not know provider names."""

    MEDIA = "media"
    TEMPLATES = "templates"
    INTERACTIVE = "interactive"
    # ``find_sent`` can answer whether an interrupted send reached the provider.
    FIND_SENT = "find_sent"


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
    # What the product needs to know about this provider (forms, pages, services read it).
    declaration: ClassVar[ProviderDeclaration]
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

    def find_sent(self, config: ChannelConfig, message: OutboundMessage, *,
                  sent_after: datetime) -> SentLookup:
        """Ask the provider whether ``message`` (whose send was interrupted: a crash or a
        timeout) reached it, using the reference that travelled with the send.

        Backends that declare ``Capability.FIND_SENT`` answer FOUND (with the provider's id) or
        NOT_FOUND; a look-up that failed is RETRY_LATER. ``sent_after`` is the earliest moment
        the interrupted attempt could have started. The default, for providers that offer no
        look-up, is UNKNOWN: never a blind second send.
        """
        return SentLookup(SentLookupOutcome.UNKNOWN,
                          detail=f"{self.declaration.label} offers no way to look a message up.")

    @abstractmethod
    def verify_webhook(self, config: ChannelConfig, request: WebhookRequest) -> VerifyResult:
        """Check that ``request`` really comes from the provider, before its body is read as data.

        ``request.url`` is the public URL the provider called, query string included;
        ``request.body`` the raw bytes as received (never re-serialised); ``request.now`` pins
        the clock for tests of replay windows.
        """

    @abstractmethod
    def parse_webhook(self, config: ChannelConfig, request: WebhookRequest) -> WebhookBatch:
        """Turn a verified webhook request into inbound messages, status updates and the reply."""

    def parse_inbound(self, config: ChannelConfig, request: WebhookRequest) -> list[InboundMessage]:
        """The inbound messages of a verified webhook request (see ``parse_webhook``)."""
        return list(self.parse_webhook(config, request).inbound)

    def parse_status(self, config: ChannelConfig, request: WebhookRequest) -> list[StatusUpdate]:
        """The delivery status updates of a verified webhook request (see ``parse_webhook``)."""
        return list(self.parse_webhook(config, request).statuses)

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
        """Verify a Django ``HttpRequest`` (see ``verify_webhook``, ``WebhookRequest.from_django``)."""
        return self.verify_webhook(config, WebhookRequest.from_django(request, public_url))

    def parse_django_request(self, config: ChannelConfig, request: HttpRequest) -> WebhookBatch:
        """Parse a verified Django ``HttpRequest`` (see ``parse_webhook``)."""
        # Parsing reads only the body: the path stands in for the URL (no host check needed).
        return self.parse_webhook(config, WebhookRequest.from_django(request, request.path))
