"""Channel set-up for organisation admins: providers, credentials, webhook URLs, test messages.

Secrets are write-only: forms never render them, pages only say whether one is stored.
Writes go through messaging.services.channels (audited); the test message through the
backend's outbound service, like any other send.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.roles import Perm, require
from messaging.forms import ChannelForm, ChannelTestMessageForm, MessagingSettingsForm
from messaging.models import Channel, WhatsAppTemplate
from messaging.services import channels as channel_services
from messaging.services import outbound


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    return render(request, "messaging/channels.html", {
        "channels": Channel.objects.all(),
        "providers": Channel.Provider.choices,
    })


def _provider_or_404(provider: str) -> str:
    if provider not in channel_services.PROVIDER_CREDENTIALS:
        raise Http404("No such provider.")
    return provider


@login_required
def channel_create(request: HttpRequest, provider: str) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    provider = _provider_or_404(provider)
    form = ChannelForm(request.POST or None, provider=provider)
    if request.method == "POST" and form.is_valid():
        channel = channel_services.create_channel(
            organization=request.organization, actor=request.user, provider=provider,
            values=form.channel_values(), credentials=form.credential_values())
        flash.success(request, "Channel created. Paste its webhook URL into your provider's console.")
        return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_form.html", {
        "form": form, "provider": provider, "provider_label": Channel.Provider(provider).label,
    })


@login_required
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = get_object_or_404(Channel, pk=channel_id)
    stored = channel_services.stored_secret_names(channel)
    # The form edits a copy: the service compares old and new values to audit what changed.
    form = ChannelForm(request.POST or None, instance=Channel.objects.get(pk=channel.pk),
                       provider=channel.provider, stored_secrets=stored)
    if request.method == "POST" and form.is_valid():
        channel_services.update_channel(channel=channel, actor=request.user, values=form.channel_values(),
                                        credentials=form.credential_values())
        flash.success(request, "Channel saved.")
        return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_form.html", {
        "form": form, "channel": channel, "provider": channel.provider,
        "provider_label": channel.get_provider_display(),
    })


@login_required
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Webhook URLs to paste, what is configured (never secret values), a test-message form."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = get_object_or_404(Channel, pk=channel_id)
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
    return {
        "channel": channel,
        "webhook_urls": channel_services.webhook_urls(channel),
        "credentials": credentials,
        "templates": WhatsAppTemplate.objects.filter(channel=channel) if channel.kind == "whatsapp" else [],
        "test_form": test_form or ChannelTestMessageForm(organization=request.organization),
        "test_refusal": test_refusal,
    }


@login_required
@require_POST
def channel_test_message(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Send a fixed test text to a number the admin types (e.g. their own phone)."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    channel = get_object_or_404(Channel, pk=channel_id)
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
        flash.success(request, f"Test message handed to {channel.get_provider_display()}: "
                               f"{message.get_status_display().lower()}.")
        return redirect("messaging:channel_detail", channel.pk)
    return render(request, "messaging/channel_detail.html", _detail_context(request, channel, form))


@login_required
def messaging_settings(request: HttpRequest) -> HttpResponse:
    """The automatic HELP / STOP / START replies."""
    require(request.membership, Perm.CHANNELS_MANAGE)
    current = channel_services.messaging_settings_for(request.organization)
    form = MessagingSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        replies = {name: form.cleaned_data[name] for name in form.Meta.fields}
        channel_services.update_messaging_settings(organization=request.organization, actor=request.user,
                                                   **replies)
        flash.success(request, "Automatic replies saved.")
        return redirect("messaging:messaging_settings")
    return render(request, "messaging/messaging_settings.html", {"form": form})
