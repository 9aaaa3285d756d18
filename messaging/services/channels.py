"""Channel set-up and the organisation's messaging configuration: every write, audited.

The web UI (messaging/views/channels.py) and the scoped Django admin both call these, so
permission checks, the provider's rules (address, credentials — read from the provider's own
declaration, never from a list of provider names here), "leave blank to keep" secrets, the
single default channel and the audit trail live in one place.

Every service takes ``actor`` (``accounts.actor.Actor``) and checks its own permission, in the
organisation of the row it changes. Audit details name the fields that changed, never their
values: credentials are secrets and canned responses may be quoted back to patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

import audit
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm
from audit import AuditAction
from billing.services import check_channels, check_feature
from messaging.models import Channel, MessagingSettings
from messaging.providers import (
    CredentialField,
    InvalidValue,
    ProviderDeclaration,
    UnknownProviderError,
    declaration_of,
)


@dataclass(frozen=True)
class WebhookUrl:
    """A URL an admin pastes into the provider's console."""

    label: str
    url: str
    note: str = ""


def declaration_for(provider: str) -> ProviderDeclaration:
    """The declaration of ``provider``; ValidationError for a key no backend registered."""
    try:
        return declaration_of(provider)
    except UnknownProviderError:
        raise ValidationError({"provider": "Choose one of the providers CareRelay offers."}) from None


def credential_fields(provider: str) -> tuple[CredentialField, ...]:
    """The credential fields a provider's set-up form shows (as the provider declares them)."""
    return declaration_for(provider).credentials


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
    """What to paste where, as the provider declares it (one URL takes messages and receipts)."""
    url = webhook_url(channel)
    return [WebhookUrl(spec.label, url, spec.note) for spec in channel.declaration.webhook_urls]


def setup_instructions(channel: Channel) -> tuple[str, ...]:
    """The console steps the provider declares for a channel of this kind."""
    return channel.declaration.instructions_for(channel.kind)


def clean_kind_and_address(provider: str, kind: str | None, address: str) -> tuple[str, str]:
    """(kind, address) as stored: the kind one ``provider`` serves (its first when None), the
    address normalised by that kind's declared rule. ValidationError keyed by field otherwise.

    The one rule behind the services, the set-up form and the admin form.
    """
    declared = declaration_for(provider)
    try:
        option = declared.kind_option(kind or None)
    except InvalidValue as exc:
        raise ValidationError({"kind": str(exc)}) from None
    try:
        return option.kind, option.address.clean(address)
    except InvalidValue as exc:
        raise ValidationError({"address": str(exc)}) from None


def _clean_kind_and_address(channel: Channel) -> None:
    channel.kind, channel.address = clean_kind_and_address(channel.provider, channel.kind, channel.address)


def _apply_credentials(channel: Channel, declared: ProviderDeclaration,
                       values: Mapping[str, str]) -> list[str]:
    """Merge submitted credentials into the channel; blank secrets keep what is stored.

    A credential not submitted at all keeps what is stored (e.g. the admin, which edits
    settings only). Each value is checked by the provider's rule for it; a required
    credential missing from both the submission and the row is refused. Returns the names of
    the credentials that changed (for the audit detail).
    """
    credentials = dict(channel.credentials or {})
    changed: list[str] = []
    errors: dict[str, str] = {}
    for field in declared.credentials:
        if field.key not in values:
            if field.required and not credentials.get(field.key):
                errors[field.key] = f"Enter the {field.label}."
            continue
        try:
            value = field.clean(values.get(field.key) or "")
        except InvalidValue as exc:
            errors[field.key] = str(exc)
            continue
        if not value and field.secret:
            if field.required and not credentials.get(field.key):
                errors[field.key] = f"Enter the {field.label}."
            continue  # write-only: blank means "keep the stored one"
        if not value and field.required:
            errors[field.key] = f"Enter the {field.label}."
            continue
        if credentials.get(field.key, "") != value:
            credentials[field.key] = value
            changed.append(field.key)
        if field.verifies_webhooks and value and channel.webhook_secret != value:
            channel.webhook_secret = value
    if errors:
        raise ValidationError(errors)
    channel.credentials = credentials
    return changed


def _make_only_default(channel: Channel) -> None:
    """One default channel per organisation: it sends staff replies' fallbacks and sign-in codes."""
    if channel.is_default:
        Channel.objects.filter(organization=channel.organization, is_default=True).exclude(
            pk=channel.pk).update(is_default=False)


CHANNEL_FIELDS = ("name", "kind", "address", "rate_limit_per_second", "is_active", "is_default")


@transaction.atomic
def create_channel(*, actor: Actor, organization: Organization, provider: str, values: Mapping[str, Any],
                   credentials: Mapping[str, str] | None = None) -> Channel:
    """Create a channel of ``provider`` with its credentials; audited as CHANNEL_CREATED.

    Needs CHANNELS_MANAGE in ``organization``. The kind must be one the provider serves (its
    first when not given), the address and credentials follow the provider's declared rules
    (ValidationError keyed by field otherwise).
    """
    actor.require(Perm.CHANNELS_MANAGE, organization)
    declared = declaration_for(provider)
    channel = Channel(organization=organization, provider=provider)
    for name in CHANNEL_FIELDS:
        if name in values:
            setattr(channel, name, values[name])
    if "kind" not in values:
        channel.kind = ""
    _clean_kind_and_address(channel)
    if channel.is_active:  # the plan's channel cap and WhatsApp flag (raises billing.QuotaExceeded)
        check_channels(organization_id=organization.pk, kind=channel.kind)
    changed = _apply_credentials(channel, declared, credentials or {})
    if declared.generates_webhook_secret:
        # Nothing to paste from a console: CareRelay makes the secret webhooks are signed with.
        channel.webhook_secret = Channel.new_webhook_secret()
    if not Channel.objects.filter(organization=organization).exists():
        channel.is_default = True  # the first channel is the one replies and codes go out on
    channel.save()
    _make_only_default(channel)
    audit.record(AuditAction.CHANNEL_CREATED, target=channel, actor=actor,
                 detail={"provider": provider, "credentials": sorted(changed)})
    return channel


@transaction.atomic
def update_channel(*, actor: Actor, channel: Channel, values: Mapping[str, Any],
                   credentials: Mapping[str, str] | None = None) -> Channel:
    """Change a channel's settings and (non-blank) credentials; audited as CHANNEL_UPDATED.

    Needs CHANNELS_MANAGE in the channel's organisation. The provider cannot change: a
    different provider is a different channel.
    """
    actor.require(Perm.CHANNELS_MANAGE, channel)
    declared = declaration_for(channel.provider)
    before = {name: getattr(channel, name) for name in CHANNEL_FIELDS}
    for name in CHANNEL_FIELDS:
        if name in values:
            setattr(channel, name, values[name])
    _clean_kind_and_address(channel)
    if channel.is_active and not before["is_active"]:
        # Switching a channel back on counts against the plan like a new one.
        check_channels(organization_id=channel.organization_id, kind=channel.kind)
    elif channel.is_active and channel.kind != before["kind"] and channel.kind == Channel.Kind.WHATSAPP:
        check_feature(organization_id=channel.organization_id, feature="whatsapp")
    changed_fields = [name for name in CHANNEL_FIELDS if getattr(channel, name) != before[name]]
    changed_credentials = _apply_credentials(channel, declared, credentials or {})
    channel.save()
    _make_only_default(channel)
    if changed_fields or changed_credentials:
        audit.record(AuditAction.CHANNEL_UPDATED, target=channel, actor=actor,
                     detail={"fields": changed_fields, "credentials": sorted(changed_credentials)})
    return channel


@transaction.atomic
def rotate_webhook_secret(*, actor: Actor, channel: Channel) -> Channel:
    """Give the channel a new webhook secret; audited as CHANNEL_WEBHOOK_SECRET_ROTATED.

    Only for providers whose secret CareRelay makes itself (the simulator); for the others the
    secret is a credential from the provider's console, replaced on the edit page.
    """
    actor.require(Perm.CHANNELS_MANAGE, channel)
    declared = declaration_for(channel.provider)
    if not declared.generates_webhook_secret:
        field = next((f for f in declared.credentials if f.verifies_webhooks), None)
        what = field.label if field else "secret"
        raise ValidationError(f"{declared.label} signs its webhooks with your {what}: create a new one in "
                              f"{declared.label}'s console and paste it on this channel's edit page.")
    channel.webhook_secret = Channel.new_webhook_secret()
    channel.save(update_fields=["webhook_secret"])
    audit.record(AuditAction.CHANNEL_WEBHOOK_SECRET_ROTATED, target=channel, actor=actor,
                 detail={"provider": channel.provider})
    return channel


@transaction.atomic
def switch_off_channel(*, actor: Actor, channel: Channel) -> Channel:
    """Stop sending and receiving on a channel (its history stays); audited as CHANNEL_SWITCHED_OFF.

    A switched-off default hands the default to the oldest other active channel, if any.
    """
    actor.require(Perm.CHANNELS_MANAGE, channel)
    if not channel.is_active:
        return channel
    was_default = channel.is_default
    channel.is_active, channel.is_default = False, False
    channel.save(update_fields=["is_active", "is_default"])
    successor = None
    if was_default:
        successor = (Channel.objects.filter(organization_id=channel.organization_id, is_active=True)
                     .exclude(pk=channel.pk).order_by("created_at", "pk").first())
        if successor is not None:
            Channel.objects.filter(pk=successor.pk).update(is_default=True)
    audit.record(AuditAction.CHANNEL_SWITCHED_OFF, target=channel, actor=actor,
                 detail={"was_default": was_default, "new_default_id": successor.pk if successor else None})
    return channel


def messaging_settings_for(organization: Organization) -> MessagingSettings:
    """The organisation's keyword replies, created with the defaults on first use."""
    found, _ = MessagingSettings.objects.get_or_create(organization=organization)
    return found


@transaction.atomic
def update_messaging_settings(*, actor: Actor, organization: Organization, help_reply: str, stop_reply: str,
                              start_reply: str) -> MessagingSettings:
    """Change the automatic HELP/STOP/START replies; audited as an organisation settings change.

    Needs ORG_SETTINGS_MANAGE in ``organization``.
    """
    actor.require(Perm.ORG_SETTINGS_MANAGE, organization)
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
