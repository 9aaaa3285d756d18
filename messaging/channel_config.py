"""Translate a Channel row into what a provider backend needs (ChannelConfig, URLs, backend).

Nothing here branches on provider names: the backend registered under ``channel.provider``
does the provider-specific work.
"""

from __future__ import annotations

from django.conf import settings

from messaging.models import Channel
from messaging.providers import ChannelConfig, ProviderBackend, get_configured_backend


def webhook_path(channel: Channel) -> str:
    """The path providers call for this channel (inbound messages and status callbacks)."""
    return f"/webhooks/{channel.provider}/{channel.webhook_id}/"


def webhook_url(channel: Channel) -> str:
    """The public URL of ``webhook_path``: what the provider signs and what to paste in its console."""
    return settings.PUBLIC_BASE_URL + webhook_path(channel)


def channel_config(channel: Channel) -> ChannelConfig:
    """The backend's view of a channel: address, decrypted credentials, webhook secret/public key."""
    return ChannelConfig(
        key=channel.provider,
        address=channel.address,
        credentials=dict(channel.credentials or {}),
        webhook_secret_or_public_key=channel.webhook_secret or "",
        is_whatsapp=channel.kind == Channel.Kind.WHATSAPP,
        status_callback_url=webhook_url(channel),
    )


def backend_for(channel: Channel) -> ProviderBackend:
    """The backend registered under the channel's provider key, pointed at the configured API URL."""
    return get_configured_backend(channel.provider)
