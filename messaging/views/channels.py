"""Channel set-up for organisation admins: providers, credentials, webhook URLs, test messages.

Secrets are write-only: forms never render them, pages only say whether one is stored.
Writes go through messaging.services.channels (audited); the test message through the
backend's outbound service, like any other send.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.roles import Perm, require
from billing import QuotaExceeded
from messaging import selectors
from messaging.forms import ChannelForm, ChannelTestMessageForm, MessagingSettingsForm
from messaging.models import Channel, WhatsAppTemplate
from messaging.providers import declarations, default_provider_key, is_registered
from messaging.services import channels as channel_services
from messaging.services import outbound


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    return render(request, "messaging/channels.html", {
        "channels": selectors.setup_channels(actor=request.actor),
        "providers": declarations(),
        "default_provider": default_provider_key(),
    })


def _provider_or_404(provider: str) -> str:
    if not is_registered(provider):
        raise Http404("No such provider.")
    return provider


def _channel_or_404(request, channel_id: int) -> Channel:
    """The organisation's channel, if its provider is installed (another organisation's: 404)."""
    channel = selectors.setup_channel(actor=request.actor, channel_id=channel_id)
    if not is_registered(channel.provider):
        # Its backend module was removed: nothing on these pages could be read or sent.
        raise Http404("This channel's provider is not installed.")
    return channel


def _form_instructions(declared, channel: Channel | None = None) -> list[str]:
    """The provider's set-up steps, then each kind's (named when the provider serves several)."""
    if channel is not None:
        return list(channel_services.setup_instructions(channel))
    steps = list(declared.instructions)
    several = len(declared.kinds) > 1
    for option in declared.kinds:
        steps += [f"{option.label}: {step}" if several else step for step in option.instructions]
    return steps


def _apply_service_errors(form: ChannelForm, error: ValidationError) -> None:
    """Show a service's refusal on the form field it names (credentials as ``cred_<key>``).

    A plan's refusal (billing.QuotaExceeded) is not a field's: it goes on to billing's middleware,
    which answers 402 with the numbers and what to do."""
    if isinstance(error, QuotaExceeded):
        raise error
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        name = field if field in form.fields else f"cred_{field}"
        form.add_error(name if name in form.fields else None, messages)


@login_required
def channel_create(request: HttpRequest, provider: str) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    provider = _provider_or_404(provider)
    form = ChannelForm(request.POST or None, provider=provider)
    if request.method == "POST" and form.is_valid():
        try:
            channel = channel_services.create_channel(
                actor=request.actor, organization=request.organization, provider=provider,
                values=form.channel_values(), credentials=form.credential_values())
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            flash.success(request, "Channel created. Paste its webhook URL into your provider's console.")
            return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_form.html", {
        "form": form, "provider": provider, "declaration": form.declaration,
        "provider_label": form.declaration.label, "instructions": _form_instructions(form.declaration),
    })


@login_required
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = _channel_or_404(request, channel_id)
    stored = channel_services.stored_secret_names(channel)
    # The form edits a copy: the service compares old and new values to audit what changed.
    copy = selectors.setup_channel(actor=request.actor, channel_id=channel.pk)
    form = ChannelForm(request.POST or None, instance=copy, provider=channel.provider, stored_secrets=stored)
    if request.method == "POST" and form.is_valid():
        try:
            channel_services.update_channel(
                actor=request.actor, channel=channel, values=form.channel_values(),
                credentials=form.credential_values())
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            flash.success(request, "Channel saved.")
            return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_form.html", {
        "form": form, "channel": channel, "provider": channel.provider, "declaration": form.declaration,
        "provider_label": form.declaration.label,
        "instructions": _form_instructions(form.declaration, channel),
    })


@login_required
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Webhook URLs to paste, what is configured (never secret values), a test-message form."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = _channel_or_404(request, channel_id)
    return render(request, "messaging/channel_detail.html", _detail_context(request, channel))


def _detail_context(request: HttpRequest, channel: Channel, test_form: ChannelTestMessageForm | None = None,
                    test_refusal: str = "") -> dict:
    stored = channel_services.stored_secret_names(channel)
    credentials = []
    for field in channel_services.credential_fields(channel.provider):
        value = (channel.credentials or {}).get(field.key, "")
        credentials.append({
            "label": field.label,
            "secret": field.secret,
            "stored": field.key in stored if field.secret else bool(value),
            # Identifiers (Account SID, profile id, public key) are not secrets: shown to admins.
            "value": "" if field.secret else value,
        })
    declared = channel.declaration
    return {
        "channel": channel,
        "declaration": declared,
        "instructions": channel_services.setup_instructions(channel),
        "webhook_urls": channel_services.webhook_urls(channel),
        "credentials": credentials,
        "templates": (WhatsAppTemplate.objects.filter(channel=channel)
                      if channel.kind == Channel.Kind.WHATSAPP else []),
        "test_form": test_form or ChannelTestMessageForm(organization=request.organization),
        "test_refusal": test_refusal,
    }


@login_required
@require_POST
def channel_test_message(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Send a fixed test text to a number the admin types (e.g. their own phone)."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = _channel_or_404(request, channel_id)
    form = ChannelTestMessageForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            message = outbound.send_test_message(channel=channel, to_phone=form.cleaned_data["to_phone"],
                                                 actor=request.actor)
        except outbound.SendRefused as exc:
            refusal = str(getattr(exc, "message", "") or exc)
            return render(request, "messaging/channel_detail.html",
                          _detail_context(request, channel, form, refusal))
        # No number in the flash message: it is stored client-side in a cookie.
        flash.success(request, f"Test message handed to {channel.provider_label}: "
                               f"{message.get_status_display().lower()}.")
        return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_detail.html", _detail_context(request, channel, form))


@login_required
def messaging_settings(request: HttpRequest) -> HttpResponse:
    """The automatic HELP / STOP / START replies."""
    require(request.membership, Perm.ORG_SETTINGS_MANAGE)
    current = channel_services.messaging_settings_for(request.organization)
    form = MessagingSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        replies = {name: form.cleaned_data[name] for name in form.Meta.fields}
        channel_services.update_messaging_settings(actor=request.actor, organization=request.organization,
                                                   **replies)
        flash.success(request, "Automatic replies saved.")
        return redirect("messaging:messaging_settings")
    return render(request, "messaging/messaging_settings.html", {"form": form})


@login_required
@require_POST
def channel_rotate_secret(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Give a channel whose webhook secret CareRelay makes (the simulator) a new one."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = _channel_or_404(request, channel_id)
    try:
        channel_services.rotate_webhook_secret(actor=request.actor, channel=channel)
    except ValidationError as error:
        flash.error(request, " ".join(error.messages))
    else:
        flash.success(request, "New webhook secret made: requests signed with the old one are now refused.")
    return redirect("messaging:channel_detail", channel.pk)


@login_required
@require_POST
def channel_switch_off(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Stop sending and receiving on a channel; its conversations and history stay."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = _channel_or_404(request, channel_id)
    channel_services.switch_off_channel(actor=request.actor, channel=channel)
    flash.success(request, "Channel switched off. Edit it and tick “Active” to switch it back on.")
    return redirect("messaging:channel_detail", channel.pk)
