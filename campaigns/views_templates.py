"""Message template pages (list, create, edit with language variants, live preview) and the
organisation's campaign settings. Writes through campaigns.services.templates."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from campaigns import contacts_access, selectors
from campaigns.audience import organization_settings
from campaigns.errors import CampaignRefused
from campaigns.forms import CampaignSettingsForm, TemplateForm, VariantForm
from campaigns.models import TemplateVariant
from campaigns.services import campaigns as campaign_services
from campaigns.services import templates as template_services
from campaigns.services._access import require


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns/templates.html",
                  {"templates": selectors.templates(actor=request.actor)})


@login_required
def template_create(request: HttpRequest) -> HttpResponse:
    require(request.actor, Perm.CAMPAIGNS_MANAGE)
    form = TemplateForm(request.POST or None, initial={"on_missing": "skip"})
    default_language = organization_settings(request.organization).default_language
    variant_form = VariantForm(request.POST or None, prefix="variant", initial={"language": default_language})
    if request.method == "POST" and form.is_valid() and variant_form.is_valid():
        try:
            template = template_services.create_template(
                actor=request.actor, organization=request.organization, **form.cleaned_data,
                language=variant_form.cleaned_data["language"], body=variant_form.cleaned_data["body"],
                whatsapp_template=variant_form.cleaned_data["whatsapp_template"],
                whatsapp_parameters=variant_form.parameters())
        except CampaignRefused as exc:
            variant_form.add_error(None, exc.message)
        else:
            flash.success(request, "Template saved.")
            return redirect("campaigns:template_detail", template.pk)
    return render(request, "campaigns/template_form.html", _editor_context(request, form, variant_form))


def _editor_context(request, form, variant_form, template=None) -> dict:
    return {"form": form, "variant_form": variant_form, "template": template,
            "custom_fields": sorted(contacts_access.custom_field_keys(actor=request.actor).items()),
            "variants": list(template.variants.select_related("whatsapp_template")) if template else []}


@login_required
def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    """Rename, change the missing-value choice, or add/replace a language variant."""
    template = selectors.get_template(actor=request.actor, template_id=template_id)
    posted = request.POST if request.method == "POST" else None
    which = request.POST.get("form") if posted else None
    form = TemplateForm(posted if which == "template" else None,
                        initial={"name": template.name, "on_missing": template.on_missing})
    variant_form = VariantForm(posted if which == "variant" else None, prefix="variant",
                               initial={"language": request.GET.get("language", "")})
    try:
        if which == "template" and form.is_valid():
            template_services.update_template(actor=request.actor, template=template, **form.cleaned_data)
            flash.success(request, "Template saved.")
            return redirect("campaigns:template_detail", template.pk)
        if which == "variant" and variant_form.is_valid():
            template_services.save_variant(
                actor=request.actor, template=template, language=variant_form.cleaned_data["language"],
                body=variant_form.cleaned_data["body"],
                whatsapp_template=variant_form.cleaned_data["whatsapp_template"],
                whatsapp_parameters=variant_form.parameters())
            flash.success(request, "Language variant saved.")
            return redirect("campaigns:template_detail", template.pk)
    except CampaignRefused as exc:
        (form if which == "template" else variant_form).add_error(None, exc.message)
    return render(request, "campaigns/template_form.html",
                  _editor_context(request, form, variant_form, template))


@login_required
@require_POST
def variant_delete(request: HttpRequest, template_id: int, variant_id: int) -> HttpResponse:
    template = selectors.get_template(actor=request.actor, template_id=template_id)
    variant = get_object_or_404(TemplateVariant, pk=variant_id, template=template)
    try:
        template_services.delete_variant(actor=request.actor, variant=variant)
    except CampaignRefused as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Language variant removed.")
    return redirect("campaigns:template_detail", template.pk)


@login_required
@require_POST
def template_live_preview(request: HttpRequest, template_id: int) -> JsonResponse:
    """The editor's live preview (campaigns-template.js posts the body as it is typed)."""
    template = selectors.get_template(actor=request.actor, template_id=template_id) if template_id else None
    body = request.POST.get("body", "").replace("\r\n", "\n")[:2000]
    preview = selectors.live_preview(actor=request.actor, organization=request.organization, body=body,
                                     query=request.POST.get("contact", ""))
    return JsonResponse({**asdict(preview), "template_id": template.pk if template else None})


@login_required
def campaign_settings(request: HttpRequest) -> HttpResponse:
    require(request.actor, Perm.CAMPAIGNS_VIEW)
    current = organization_settings(request.organization)
    form = CampaignSettingsForm(request.POST or None, initial={
        "default_language": current.default_language, "send_window_start": current.send_window_start,
        "send_window_end": current.send_window_end})
    if request.method == "POST" and form.is_valid():
        try:
            campaign_services.update_campaign_settings(actor=request.actor, organization=request.organization,
                                                       **form.cleaned_data)
        except CampaignRefused as exc:
            form.add_error(None, exc.message)
        else:
            flash.success(request, "Campaign settings saved.")
            return redirect("campaigns:settings")
    return render(request, "campaigns/settings.html", {"form": form})
