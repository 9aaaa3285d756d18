"""Campaigns in the organisation-scoped admin: every save and delete goes through the services.

Audience conditions (encrypted, may name a diagnosis), recipients and counts are not shown
here: the Campaigns pages show them with the checks and audit they need.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.admin_site import OrgScopedAdmin, admin_site
from campaigns import selectors as campaign_selectors
from campaigns.errors import CampaignRefused
from campaigns.forms import QuestionnaireChoiceField, startable_questionnaires
from campaigns.models import Campaign, CampaignSettings, MessageTemplate
from campaigns.services import campaigns as campaign_services
from campaigns.services import lifecycle
from campaigns.services import templates as template_services


def _refused(request, exc: CampaignRefused):
    # The admin has no form-level hook after save_model: show the refusal, keep the row as it was.
    flash.error(request, exc.message)


class MessageTemplateAdmin(OrgScopedAdmin):
    list_display = ("name", "on_missing", "updated_at")
    fields = ("name", "on_missing")
    # No search box: the admin searches by GET, and a search typed there lands in URLs and logs.

    def save_model(self, request, obj, form, change):
        try:
            if change:
                template = MessageTemplate.objects.get(pk=obj.pk)
                template_services.update_template(actor=request.actor, template=template, name=obj.name,
                                                  on_missing=obj.on_missing)
            else:
                created = template_services.create_template(
                    actor=request.actor, organization=request.organization, name=obj.name,
                    on_missing=obj.on_missing)
                obj.pk = created.pk
        except CampaignRefused as exc:
            _refused(request, exc)

    def delete_model(self, request, obj):
        try:
            template_services.delete_template(actor=request.actor, template=obj)
        except CampaignRefused as exc:
            raise ValidationError(exc.message) from None


def _lifecycle_action(service, done: str, description: str):
    """An admin action onto a lifecycle service (the same one as the page's buttons and the command)."""

    def action(modeladmin, request, queryset):
        moved = 0
        for campaign in queryset:
            try:
                service(actor=request.actor, campaign=campaign)
            except CampaignRefused as exc:
                flash.error(request, f"{campaign.name}: {exc.message}")
            else:
                moved += 1
        if moved:
            flash.success(request, f"{moved} campaign{'s' if moved != 1 else ''} {done}.")

    action.short_description = description
    action.__name__ = f"{service.__name__}_action"
    return action


class CampaignAdmin(OrgScopedAdmin):
    list_display = ("name", "kind", "state", "channel", "template", "created_at")
    list_filter = ("kind", "state")
    fields = ("name", "kind", "channel", "template", "questionnaire", "send_at", "state", "pause_reason")
    actions = [
        _lifecycle_action(lifecycle.start_campaign, "started", "Send the selected campaigns now"),
        _lifecycle_action(lifecycle.pause_campaign, "paused", "Pause the selected campaigns"),
        _lifecycle_action(lifecycle.resume_campaign, "resumed", "Resume the selected campaigns"),
        _lifecycle_action(lifecycle.cancel_campaign, "cancelled", "Cancel the selected campaigns"),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "questionnaire":  # by name (its __str__ is the id); switched-on ones only
            kwargs.update(form_class=QuestionnaireChoiceField, queryset=startable_questionnaires())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # The kind is fixed at creation; the state changes only through the lifecycle buttons.
        return ("kind", "state", "pause_reason") if obj else ("state", "pause_reason")

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data[k] for k in ("name", "channel", "template", "questionnaire", "send_at")
                  if k in form.cleaned_data}
        try:
            if change:
                campaign = campaign_selectors.get_campaign(actor=request.actor, campaign_id=obj.pk)
                campaign_services.update_campaign(actor=request.actor, campaign=campaign, **values)
            else:
                created = campaign_services.create_campaign(
                    actor=request.actor, organization=request.organization, kind=form.cleaned_data["kind"],
                    **values)
                obj.pk = created.pk
        except CampaignRefused as exc:
            _refused(request, exc)

    def delete_model(self, request, obj):
        try:
            campaign_services.delete_campaign(actor=request.actor, campaign=obj)
        except CampaignRefused as exc:
            raise ValidationError(exc.message) from None


class CampaignSettingsAdmin(OrgScopedAdmin):
    list_display = ("__str__", "default_language", "send_window_start", "send_window_end")
    fields = ("default_language", "send_window_start", "send_window_end")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per organisation, made by the first save on the settings page

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            campaign_services.update_campaign_settings(actor=request.actor, organization=request.organization,
                                                       **{k: form.cleaned_data[k] for k in self.fields})
        except CampaignRefused as exc:
            _refused(request, exc)


admin_site.register(MessageTemplate, MessageTemplateAdmin)
admin_site.register(Campaign, CampaignAdmin)
admin_site.register(CampaignSettings, CampaignSettingsAdmin)
