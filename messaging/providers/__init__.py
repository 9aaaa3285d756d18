"""Provider backends: how CareRelay talks to Twilio, Telnyx, WhatsApp Cloud and the simulator.

Use ``get_backend(channel_key)`` and the dataclasses below; never branch on provider
names. Importing this package does not import Django or any backend module; backends
are discovered on the first ``get_backend``/``available_backends`` call.
"""

from messaging.providers._http import WebhookPayloadError
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.messages import (
    ChannelConfig,
    InboundMedia,
    InboundMessage,
    InteractiveMessage,
    ListRow,
    ListSection,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    ReplyButton,
    ReplyKind,
    SendOutcome,
    SendResult,
    StatusUpdate,
    TemplateButton,
    VerifyResult,
    WebhookBatch,
    WebhookReply,
    WhatsAppReply,
)
from messaging.providers.registry import (
    UnknownProviderError,
    available_backends,
    backend_class,
    get_backend,
    get_configured_backend,
    register,
)
from messaging.providers.statuses import can_transition

__all__ = [
    "Capability",
    "ChannelConfig",
    "InboundMedia",
    "InboundMessage",
    "InteractiveMessage",
    "ListRow",
    "ListSection",
    "MessageStatus",
    "MessageTemplate",
    "OutboundMessage",
    "ProviderBackend",
    "ReplyButton",
    "ReplyKind",
    "SendOutcome",
    "SendResult",
    "StatusUpdate",
    "TemplateButton",
    "UnknownProviderError",
    "VerifyResult",
    "WebhookBatch",
    "WebhookPayloadError",
    "WebhookReply",
    "WhatsAppReply",
    "available_backends",
    "backend_class",
    "can_transition",
    "get_backend",
    "get_configured_backend",
    "register",
]
