"""Messaging configuration in the organisation-scoped admin.

Channel credentials and webhook secrets are never displayed or edited here: the Channels
pages set them write-only. Channel changes go through messaging.services.channels so they
are audited like the web UI's. Conversations and messages (PHI) are read in the inbox,
where each view is audited, not here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.admin_site import OrgScopedAdmin, admin_site
from messaging import selectors
from messaging.models import CannedResponse, Channel, MessagingSettings, WhatsAppTemplate
from messaging.providers import declaration_of, is_registered
from messaging.services import canned as canned_services
from messaging.services import channels as channel_services
from messaging.services import templates as template_services


class ChannelAdminForm(forms.ModelForm):
    """The admin's channel form checks the kind and address by the provider's declared rules."""

    class Meta:
        model = Channel
        fields = ("name", "kind", "address", "rate_limit_per_second", "is_active", "is_default")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "kind" in self.fields and is_registered(self.instance.provider):
            # Only the kinds this channel's provider declares (WhatsApp Cloud: WhatsApp only).
            declared = declaration_of(self.instance.provider)
            self.fields["kind"].choices = [(option.kind, option.label) for option in declared.kinds]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "address" in cleaned:
            try:
                cleaned["kind"], cleaned["address"] = channel_services.clean_kind_and_address(
                    self.instance.provider, cleaned.get("kind"), cleaned["address"])
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, messages)
        return cleaned


class ChannelAdmin(OrgScopedAdmin):
    form = ChannelAdminForm
    list_display = ("name", "provider_name", "kind", "address", "rate_limit_per_second", "is_active",
                    "is_default")
    list_filter = ("provider", "kind", "is_active")
    # No credentials, no webhook_secret: secrets never reach an admin page.
    fields = ("name", "provider_name", "kind", "address", "webhook_id", "rate_limit_per_second", "is_active",
              "is_default")
    readonly_fields = ("provider_name", "webhook_id")

    @admin.display(description="Provider", ordering="provider")
    def provider_name(self, obj: Channel) -> str:
        return obj.provider_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating a channel needs the provider's credential form: the Channels page has it.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Messages keep a reference to their channel (PROTECT): switch a channel off instead.
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in channel_services.CHANNEL_FIELDS
                  if name in form.cleaned_data}
        # Through the service, on a fresh row, so the audit names what actually changed.
        fresh = selectors.setup_channel(actor=request.actor, channel_id=obj.pk)
        channel_services.update_channel(actor=request.actor, channel=fresh, values=values)


class WhatsAppTemplateAdminForm(forms.ModelForm):
    """Refuses what the service would refuse, so the admin shows a message instead of an error page."""

    def clean_parameter_count(self) -> int:
        count = self.cleaned_data["parameter_count"]
        if count > template_services.MAX_PARAMETERS:
            limit = template_services.MAX_PARAMETERS
            raise ValidationError(f"Templates with up to {limit} parameters can be sent from the inbox: "
                                  "check the approved template.")
        return count


class WhatsAppTemplateAdmin(OrgScopedAdmin):
    form = WhatsAppTemplateAdminForm
    list_display = ("name", "language", "channel", "parameter_count", "is_active")
    list_filter = ("is_active", "language")
    fields = ("channel", "name", "language", "preview", "parameter_count", "is_active")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "channel":
            # Only this organisation's WhatsApp channels, read through the selector (no secrets).
            kwargs["queryset"] = selectors.whatsapp_channels(actor=request.actor)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Through the service (validated, audited); an edit starts from the stored row so the
        # audit names what actually changed.
        values = {name: form.cleaned_data[name] for name in self.fields if name in form.cleaned_data}
        if change:
            saved = template_services.update_whatsapp_template(
                actor=request.actor, template=WhatsAppTemplate.objects.get(pk=obj.pk), **values)
        else:
            saved = template_services.create_whatsapp_template(actor=request.actor, **values)
        obj.pk, obj.organization_id, obj._state.adding = saved.pk, saved.organization_id, False

    def delete_model(self, request, obj):
        template_services.delete_whatsapp_template(actor=request.actor, template=obj)


class CannedResponseAdmin(OrgScopedAdmin):
    list_display = ("title", "created_at")
    # No search box: the admin searches by GET, and a search typed there lands in URLs and logs.
    fields = ("title", "body")

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in self.fields}
        if change:
            saved = canned_services.update_canned_response(
                actor=request.actor, canned=CannedResponse.objects.get(pk=obj.pk), **values)
        else:
            saved = canned_services.create_canned_response(actor=request.actor, **values)
        obj.pk, obj.organization_id, obj._state.adding = saved.pk, saved.organization_id, False

    def delete_model(self, request, obj):
        canned_services.delete_canned_response(actor=request.actor, canned=obj)


class MessagingSettingsAdmin(OrgScopedAdmin):
    list_display = ("__str__",)
    fields = ("help_reply", "stop_reply", "start_reply")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row per organisation, created on first use.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        channel_services.update_messaging_settings(
            actor=request.actor, organization=request.organization,
            **{name: form.cleaned_data[name] for name in self.fields})


admin_site.register(Channel, ChannelAdmin)
admin_site.register(WhatsAppTemplate, WhatsAppTemplateAdmin)
admin_site.register(CannedResponse, CannedResponseAdmin)
admin_site.register(MessagingSettings, MessagingSettingsAdmin)
