"""Plain data exchanged between the messaging app and provider backends.

Nothing here knows about Django: a later step copies Channel/Message model fields into
these dataclasses and back. Fields that can hold PHI (phone numbers, bodies, names) are
excluded from ``repr`` so a dataclass that ends up in a log line or a traceback does not
leak them; credentials are excluded for the same reason.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


class SendOutcome(enum.StrEnum):
    """What the caller should do after a send attempt."""

    ACCEPTED = "accepted"  # the provider took the message; store provider_message_id
    RETRY_LATER = "retry_later"  # 429 / 5xx / timeout / connection error: back off and retry
    OPTED_OUT = "opted_out"  # recipient sent STOP: record the opt-out, never retry
    WINDOW_CLOSED = "window_closed"  # WhatsApp 24 h window closed: resend as a template
    PERMANENT_FAILURE = "permanent_failure"  # bad number, bad credentials, bad content


class MessageStatus(enum.StrEnum):
    """Internal delivery status shared by every provider (PROVIDERS.md §4)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


class ReplyKind(enum.StrEnum):
    """How a WhatsApp user answered: which control they tapped."""

    BUTTON_REPLY = "button_reply"  # interactive reply button
    LIST_REPLY = "list_reply"  # interactive list row
    QUICK_REPLY = "quick_reply"  # quick-reply button of a template


@dataclass(frozen=True)
class ChannelConfig:
    """What a backend needs from a Channel row.

    ``address`` is the sender: an E.164 number, a WhatsApp Cloud phone-number id, or a
    Twilio Messaging Service SID (``MG…``). ``credentials`` keys per provider:
    twilio ``account_sid``, ``auth_token``; telnyx ``api_key`` (+ optional
    ``messaging_profile_id``); whatsapp_cloud ``access_token``, ``app_secret``,
    ``verify_token``. ``webhook_secret_or_public_key`` is the Telnyx public key (base64)
    or the simulator's shared secret.
    """

    key: str
    address: str
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    webhook_secret_or_public_key: str = field(default="", repr=False)
    is_whatsapp: bool = False  # Twilio only: WhatsApp through Twilio (whatsapp: prefixes)
    status_callback_url: str = ""

    def credential(self, name: str) -> str:
        """Return one credential, or "" when the channel does not have it."""
        return str(self.credentials.get(name) or "")


@dataclass(frozen=True)
class TemplateButton:
    """A dynamic value for one button of a WhatsApp template (Meta component shape)."""

    index: int
    sub_type: str  # "quick_reply" (value = payload), "url" (value = URL suffix), "copy_code"
    value: str = field(repr=False)


@dataclass(frozen=True)
class MessageTemplate:
    """An approved template: Meta template name, or Twilio Content SID (``HX…``).

    ``parameters`` fill the body: a sequence for positional ``{{1}}``, ``{{2}}`` values
    (a string becomes a text parameter; a mapping is passed to Meta as is, e.g. a
    currency), or a mapping for named parameters. Twilio sends them as ContentVariables.
    ``header_parameters`` are Meta-shaped header parameters (e.g. an image link).
    """

    name: str
    language: str = "en_US"
    parameters: Sequence[str | Mapping[str, Any]] | Mapping[str, str] = field(default=(), repr=False)
    header_parameters: Sequence[Mapping[str, Any]] = field(default=(), repr=False)
    buttons: Sequence[TemplateButton] = ()


@dataclass(frozen=True)
class ReplyButton:
    """One WhatsApp reply button: ``id`` comes back in the reply, ``title`` is shown."""

    id: str
    title: str = field(repr=False)


@dataclass(frozen=True)
class ListRow:
    """One selectable row of a WhatsApp list message."""

    id: str
    title: str = field(repr=False)
    description: str = field(default="", repr=False)


@dataclass(frozen=True)
class ListSection:
    """A titled group of rows in a WhatsApp list message."""

    title: str
    rows: Sequence[ListRow]


@dataclass(frozen=True)
class InteractiveMessage:
    """A WhatsApp interactive message: either reply ``buttons`` or a list of ``sections``.

    Only allowed inside the 24-hour customer-service window.
    """

    body: str = field(repr=False)
    buttons: Sequence[ReplyButton] = ()
    sections: Sequence[ListSection] = ()
    list_button: str = ""  # label of the button that opens the list
    header: str = field(default="", repr=False)
    footer: str = field(default="", repr=False)


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one recipient.

    ``correlation_data`` is echoed back by Meta in status webhooks
    (``biz_opaque_callback_data``); other providers ignore it. ``idempotency_key`` is
    sent where the provider supports one (Telnyx ``Idempotency-Key``); Twilio and Meta
    have none, so the caller's outbox is what prevents double sends.
    """

    to: str = field(repr=False)
    body: str = field(default="", repr=False)
    media_urls: Sequence[str] = field(default=(), repr=False)
    template: MessageTemplate | None = None
    interactive: InteractiveMessage | None = None
    idempotency_key: str = ""
    correlation_data: str = ""


@dataclass(frozen=True)
class SendResult:
    """The normalised answer to a send attempt.

    ``error_message`` is the provider's own error text with phone numbers and the body
    removed, safe to log and show to staff.
    """

    outcome: SendOutcome
    provider_message_id: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_after: float | None = None  # seconds, when the provider said how long to wait
    raw_status: str = ""  # provider's initial status, e.g. Twilio "accepted"
    http_status: int | None = None

    @property
    def accepted(self) -> bool:
        """True when the provider took the message."""
        return self.outcome is SendOutcome.ACCEPTED


@dataclass(frozen=True)
class InboundMedia:
    """An attachment on an inbound message.

    Twilio and Telnyx give a ``url``; Meta gives a ``provider_media_id`` to download
    through the Graph API later.
    """

    url: str = field(default="", repr=False)
    content_type: str = ""
    provider_media_id: str = ""


@dataclass(frozen=True)
class WhatsAppReply:
    """Which button or list row a WhatsApp user tapped."""

    kind: ReplyKind
    id: str
    title: str = field(default="", repr=False)


@dataclass(frozen=True)
class InboundMessage:
    """A message a patient sent to one of our channels.

    ``from_address`` is E.164 when the sender is a phone; WhatsApp business-scoped user
    ids (BSUID) come through as the raw id with ``from_is_phone`` False. ``to_address``
    is the channel address (E.164, or Meta's phone-number id). Dedupe on
    ``provider_message_id``: providers retry webhooks.
    """

    provider_message_id: str
    from_address: str = field(repr=False)
    to_address: str
    body: str = field(default="", repr=False)
    media: Sequence[InboundMedia] = ()
    received_at: datetime | None = None
    whatsapp_reply: WhatsAppReply | None = None
    profile_name: str = field(default="", repr=False)
    from_is_phone: bool = True
    reply_to_provider_message_id: str = ""  # the message this one quotes/answers


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery receipt for a message we sent.

    ``failure_outcome`` classifies an asynchronous error with the same vocabulary as a
    send (e.g. OPTED_OUT for Twilio 21610, WINDOW_CLOSED for WhatsApp 131047) so the
    caller can record an opt-out or fall back to a template.
    """

    provider_message_id: str
    status: MessageStatus
    raw_status: str
    dedupe_key: str
    error_code: str = ""
    error_message: str = ""
    occurred_at: datetime | None = None
    failure_outcome: SendOutcome | None = None
    # Our reference echoed back (WhatsApp ``biz_opaque_callback_data``): names the message
    # even when its provider id was never stored (a crash between the provider's answer and it).
    correlation_data: str = ""

    @property
    def implies_delivered(self) -> bool:
        """True for delivered and read: WhatsApp may send ``read`` without ``delivered``."""
        return self.status in (MessageStatus.DELIVERED, MessageStatus.READ)


class WebhookReply(NamedTuple):
    """The HTTP answer the webhook view should return to the provider."""

    status: int = 200
    content_type: str = "text/plain"
    body: bytes = b""


@dataclass(frozen=True)
class WebhookBatch:
    """Everything one webhook request carried, plus the reply the provider expects."""

    inbound: Sequence[InboundMessage] = ()
    statuses: Sequence[StatusUpdate] = ()
    reply: WebhookReply = field(default_factory=WebhookReply)


@dataclass(frozen=True)
class VerifyResult:
    """Whether a webhook request is authentic.

    ``reason`` names the failed check (safe to log, no PHI). ``challenge`` is set only for
    a successful Meta GET handshake: answer 200 with it as a text/plain body.
    """

    ok: bool
    reason: str = ""
    challenge: str | None = None

    def __bool__(self) -> bool:
        return self.ok


class SentLookupOutcome(enum.StrEnum):
    """What a provider could tell about a send that may or may not have reached it."""

    FOUND = "found"  # the provider has it: store ``provider_message_id``, never send again
    NOT_FOUND = "not_found"  # the provider answered and does not have it: sending is safe
    UNKNOWN = "unknown"  # the provider cannot be asked: staff must check before anything is resent
    RETRY_LATER = "retry_later"  # the look-up itself failed (429/5xx/timeout): ask again later


@dataclass(frozen=True)
class SentLookup:
    """The answer of ``ProviderBackend.find_sent`` (no PHI: ids and codes only)."""

    outcome: SentLookupOutcome
    provider_message_id: str = ""
    raw_status: str = ""
    detail: str = ""  # why, for staff (e.g. "WhatsApp Cloud offers no message look-up")
    retry_after: float | None = None
