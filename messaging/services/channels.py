"""Channel set-up and the organisation's messaging configuration: every write, audited.

The web UI (messaging/views/channels.py) and the scoped Django admin both call these, so
permission checks, "leave blank to keep" secrets, the single default channel and the audit
trail live in one place.

Audit details name the fields that changed, never their values: credentials are secrets and
canned responses may be quoted back to patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

import audit
from accounts.models import Organization
from accounts.roles import Perm, require_member
from audit import AuditAction
from billing.services import check_channels
from messaging.models import CannedResponse, Channel, MessagingSettings


@dataclass(frozen=True)
class CredentialField:
    """One provider credential the set-up form asks for.

    ``secret`` fields are write-only: never rendered back, blank keeps the stored value.
    ``target`` is where the value lives: ``credentials`` (the encrypted dict) or
    ``webhook_secret`` (the encrypted column webhook verification reads) or both.
    """

    key: str
    label: str
    secret: bool
    help_text: str = ""
    required: bool = True
    also_webhook_secret: bool = False


# What each provider needs. Keys match messaging.providers.messages.ChannelConfig.credentials.
PROVIDER_CREDENTIALS: dict[str, tuple[CredentialField, ...]] = {
    Channel.Provider.SIMULATOR: (),
    Channel.Provider.TWILIO: (
        CredentialField("account_sid", "Account SID", secret=False, help_text="Starts with AC…"),
        # Twilio signs its webhooks with the auth token: it doubles as the webhook secret.
        CredentialField("auth_token", "Auth token", secret=True, also_webhook_secret=True),
    ),
    Channel.Provider.TELNYX: (
        CredentialField("api_key", "API key", secret=True, help_text="Starts with KEY…"),
        CredentialField("messaging_profile_id", "Messaging profile ID", secret=False, required=False),
        # Telnyx signs webhooks with Ed25519; we verify with the account's public key.
        CredentialField("public_key", "Webhook public key", secret=False, also_webhook_secret=True,
                        help_text="Mission Control → Account settings → Keys & credentials → Public key"),
    ),
    Channel.Provider.WHATSAPP_CLOUD: (
        CredentialField("access_token", "Access token", secret=True,
                        help_text="A permanent System User token with whatsapp_business_messaging"),
        # Meta signs webhook deliveries with the app secret (X-Hub-Signature-256).
        CredentialField("app_secret", "App secret", secret=True, also_webhook_secret=True),
        CredentialField("verify_token", "Verify token", secret=True,
                        help_text="Any long random string; type the same one into Meta's webhook set-up"),
    ),
}

# The address field's label per provider (what the patient sees the message come from).
ADDRESS_LABELS: dict[str, tuple[str, str]] = {
    Channel.Provider.SIMULATOR: ("Simulated number", "Any E.164 number, e.g. +15005550006"),
    Channel.Provider.TWILIO: ("Sender number or Messaging Service SID",
                              "E.164 (+14155550100) or MG… for a Messaging Service"),
    Channel.Provider.TELNYX: ("Sender number", "E.164, e.g. +14155550100"),
    Channel.Provider.WHATSAPP_CLOUD: ("Phone-number ID",
                                      "The numeric id from WhatsApp Manager, not the number"),
}


@dataclass(frozen=True)
class WebhookUrl:
    """A URL an admin pastes into the provider's console."""

    label: str
    url: str
    note: str = ""


def credential_fields(provider: str) -> tuple[CredentialField, ...]:
    """The credential fields a provider's set-up form shows."""
    return PROVIDER_CREDENTIALS.get(provider, ())


def stored_secret_names(channel: Channel) -> set[str]:
    """Which write-only credentials are already stored (to say "stored — leave blank to keep")."""
    stored = {key for key, value in (channel.credentials or {}).items() if value}
    return {f.key for f in credential_fields(channel.provider) if f.secret and f.key in stored}


def webhook_url(channel: Channel) -> str:
    """The channel's inbound/status webhook URL, as the provider must call it (and signs it)."""
    # One definition, shared with the send path's status callbacks and signature checks.
    from messaging.channel_config import webhook_url as backend_webhook_url

    return backend_webhook_url(channel)


def webhook_urls(channel: Channel) -> list[WebhookUrl]:
    """What to paste where, per provider (one URL takes both inbound messages and receipts)."""
    url = webhook_url(channel)
    if channel.provider == Channel.Provider.TWILIO:
        return [
            WebhookUrl("“A message comes in” webhook (HTTP POST)", url,
                       "Phone number → Messaging configuration, or Messaging Service → Integration."),
            WebhookUrl("Status callback URL", url,
                       "Sent with every message automatically; set it on a Messaging Service too."),
        ]
    if channel.provider == Channel.Provider.TELNYX:
        return [WebhookUrl("Messaging profile webhook URL", url,
                           "Messaging → your profile → Inbound settings → Send a webhook to this URL "
                           "(API v2).")]
    if channel.provider == Channel.Provider.WHATSAPP_CLOUD:
        return [WebhookUrl("Callback URL", url,
                           "App dashboard → WhatsApp → Configuration. Use the verify token you set here "
                           "and subscribe to the “messages” field.")]
    return [WebhookUrl("Simulator webhook", url,
                       "Nothing to configure: the Simulator page posts to it for you.")]


def _apply_credentials(channel: Channel, provider: str, values: Mapping[str, str]) -> list[str]:
    """Merge submitted credentials into the channel; blank secrets keep what is stored.

    Returns the names of the credentials that changed (for the audit detail).
    """
    credentials = dict(channel.credentials or {})
    changed: list[str] = []
    for field in credential_fields(provider):
        value = (values.get(field.key) or "").strip()
        if field.secret and not value:
            continue  # write-only: blank means "keep the stored one"
        if credentials.get(field.key, "") != value:
            credentials[field.key] = value
            changed.append(field.key)
        if field.also_webhook_secret and value and channel.webhook_secret != value:
            channel.webhook_secret = value
    channel.credentials = credentials
    return changed


def _make_only_default(channel: Channel) -> None:
    """One default channel per organisation: it sends staff replies' fallbacks and sign-in codes."""
    if channel.is_default:
        Channel.objects.filter(organization=channel.organization, is_default=True).exclude(
            pk=channel.pk).update(is_default=False)


CHANNEL_FIELDS = ("name", "kind", "address", "rate_limit_per_second", "is_active", "is_default")


@transaction.atomic
def create_channel(*, organization: Organization, actor, provider: str, values: Mapping[str, Any],
                   credentials: Mapping[str, str] | None = None) -> Channel:
    """Create a channel of ``provider`` with its credentials; audited as CHANNEL_CREATED."""
    require_member(actor, organization, Perm.CHANNELS_MANAGE)
    if provider not in PROVIDER_CREDENTIALS:
        raise ValueError("Unknown provider")
    channel = Channel(organization=organization, provider=provider)
    for name in CHANNEL_FIELDS:
        if name in values:
            setattr(channel, name, values[name])
    if provider == Channel.Provider.WHATSAPP_CLOUD:
        channel.kind = Channel.Kind.WHATSAPP  # Meta's API is WhatsApp only
    if channel.is_active:  # the plan's channel cap and WhatsApp flag (raises billing.QuotaExceeded)
        check_channels(organization_id=organization.pk, kind=channel.kind)
    changed = _apply_credentials(channel, provider, credentials or {})
    if provider == Channel.Provider.SIMULATOR:
        # The simulator page signs what the "patient" types with this secret.
        channel.webhook_secret = Channel.new_webhook_secret()
    if not Channel.objects.filter(organization=organization).exists():
        channel.is_default = True  # the first channel is the one replies and codes go out on
    channel.save()
    _make_only_default(channel)
    audit.record(AuditAction.CHANNEL_CREATED, target=channel, actor=actor,
                 detail={"provider": provider, "credentials": sorted(changed)})
    return channel


@transaction.atomic
def update_channel(*, channel: Channel, actor, values: Mapping[str, Any],
                   credentials: Mapping[str, str] | None = None) -> Channel:
    """Change a channel's settings and (non-blank) credentials; audited as CHANNEL_UPDATED.

    The provider cannot change: a different provider is a different channel.
    """
    require_member(actor, channel.organization, Perm.CHANNELS_MANAGE)
    changed_fields = []
    for name in CHANNEL_FIELDS:
        if name in values and getattr(channel, name) != values[name]:
            setattr(channel, name, values[name])
            changed_fields.append(name)
    if channel.provider == Channel.Provider.WHATSAPP_CLOUD:
        channel.kind = Channel.Kind.WHATSAPP
    changed_credentials = _apply_credentials(channel, channel.provider, credentials or {})
    channel.save()
    _make_only_default(channel)
    if changed_fields or changed_credentials:
        audit.record(AuditAction.CHANNEL_UPDATED, target=channel, actor=actor,
                     detail={"fields": changed_fields, "credentials": sorted(changed_credentials)})
    return channel


def messaging_settings_for(organization: Organization) -> MessagingSettings:
    """The organisation's keyword replies, created with the defaults on first use."""
    found, _ = MessagingSettings.objects.get_or_create(organization=organization)
    return found


@transaction.atomic
def update_messaging_settings(*, organization: Organization, actor, help_reply: str, stop_reply: str,
                              start_reply: str) -> MessagingSettings:
    """Change the automatic HELP/STOP/START replies; audited as an organisation settings change."""
    require_member(actor, organization, Perm.CHANNELS_MANAGE)
    current = messaging_settings_for(organization)
    new = {"help_reply": help_reply, "stop_reply": stop_reply, "start_reply": start_reply}
    changed = [name for name, value in new.items() if getattr(current, name) != value]
    if changed:
        for name in changed:
            setattr(current, name, new[name])
        current.save(update_fields=changed)
        audit.record(AuditAction.ORGANIZATION_SETTINGS_CHANGED, organization=organization, actor=actor,
                     detail={"messaging_settings": changed})
    return current


@transaction.atomic
def save_canned_response(*, organization: Organization, actor, title: str, body: str,
                         canned: CannedResponse | None = None) -> CannedResponse:
    """Create or change one of the organisation's canned responses (admins)."""
    require_member(actor, organization, Perm.CHANNELS_MANAGE)
    canned = canned or CannedResponse(organization=organization)
    canned.title, canned.body = title, body
    canned.save()
    return canned


@transaction.atomic
def delete_canned_response(*, canned: CannedResponse, actor) -> None:
    """Remove a canned response (admins)."""
    require_member(actor, canned.organization, Perm.CHANNELS_MANAGE)
    canned.delete()
