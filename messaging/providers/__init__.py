"""Provider backends: how CareRelay talks to Twilio, Telnyx, WhatsApp Cloud and the simulator.

Use ``get_backend(channel_key)`` and the dataclasses below; never branch on provider
names. Importing this package does not import Django or any backend module; backends
are discovered on the first ``get_backend``/``available_backends`` call.
"""

from messaging.providers._http import WebhookPayloadError
from messaging.providers.base import Capability, ProviderBackend
from messaging.providers.declaration import (
    AddressRule,
    CredentialField,
    InvalidValue,
    KindOption,
    ProviderDeclaration,
    WebhookUrlSpec,
)
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
    declaration_of,
    declarations,
    default_provider_key,
    get_backend,
    get_configured_backend,
    is_registered,
    keys_playing_patient_in_browser,
    provider_choices,
    register,
    unregister,
)
from messaging.providers.statuses import can_transition
from messaging.providers.webhook_request import WebhookRequest

__all__ = [
    "AddressRule",
    "Capability",
    "ChannelConfig",
    "CredentialField",
    "InboundMedia",
    "InboundMessage",
    "InteractiveMessage",
    "InvalidValue",
    "KindOption",
    "ListRow",
    "ListSection",
    "MessageStatus",
    "MessageTemplate",
    "OutboundMessage",
    "ProviderBackend",
    "ProviderDeclaration",
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
    "WebhookRequest",
    "WebhookUrlSpec",
    "WhatsAppReply",
    "available_backends",
    "backend_class",
    "can_transition",
    "declaration_of",
    "declarations",
    "default_provider_key",
    "get_backend",
    "get_configured_backend",
    "is_registered",
    "keys_playing_patient_in_browser",
    "provider_choices",
    "register",
    "unregister",
]
