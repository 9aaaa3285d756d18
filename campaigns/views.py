"""Campaign pages: list, create, edit, detail (audience counts, preview, lifecycle buttons).

Thin doors: selectors read (and audit), services write and check permission; refusals
come back as a sentence for the person. Every page shows the campaign's kind.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from campaigns import billing_gate, contacts_access, results, selectors
from campaigns.errors import CampaignRefused
from campaigns.forms import AudienceUploadForm, CampaignCreateForm, CampaignEditForm, PreviewForm
from campaigns.models import SkipReason
from campaigns.services import campaigns as campaign_services
from campaigns.services import lifecycle
from campaigns.services._access import require


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns/list.html", {"campaigns": selectors.campaigns(actor=request.actor)})


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    require(request.actor, Perm.CAMPAIGNS_MANAGE)
    form = CampaignCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_services.create_campaign(
                actor=request.actor, organization=request.organization, **form.cleaned_data)
        except CampaignRefused as exc:
            form.add_error(None, exc.message)
        else:
            flash.success(request, "Campaign created as a draft: choose its audience and schedule.")
            return redirect("campaigns:edit", campaign.pk)
    return render(request, "campaigns/create.html", {"form": form})


def _edit_form(request, campaign, data=None) -> CampaignEditForm:
    actor = request.actor
    return CampaignEditForm(data, initial=CampaignEditForm.initial_for(campaign),
                            organization=request.organization,
                            custom_fields=contacts_access.custom_field_keys(actor=actor),
                            tags=contacts_access.tags(actor=actor))


@login_required
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    require(request.actor, Perm.CAMPAIGNS_MANAGE, campaign)
    form = _edit_form(request, campaign, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign_services.update_campaign(actor=request.actor, campaign=campaign, **form.service_values())
        except CampaignRefused as exc:
            form.add_error(None, exc.message)
        else:
            flash.success(request, "Campaign saved. Count the audience to see who it reaches.")
            return redirect("campaigns:detail", campaign.pk)
    return render(request, "campaigns/edit.html", {"campaign": campaign, "form": form,
                                                   "upload_form": AudienceUploadForm()})


def _detail_context(request, campaign, **extra) -> dict:
    actor = request.actor
    counts = campaign.audience_counts or {}
    reasons = [(SkipReason(r).label, n) for r, n in (counts.get("excluded") or {}).items() if n]
    cost = ""
    if counts.get("segments_total"):
        cost = billing_gate.cost_label(
            selectors.estimate_cost(actor=actor, campaign=campaign, segments=counts["segments_total"]))
    return {
        "campaign": campaign, "audience": counts, "excluded_reasons": reasons, "cost": cost,
        "recipients": selectors.recipient_counts(actor=actor, campaign=campaign),
        "progress": results.progress(actor=actor, campaign=campaign),
        "unknown_explanation": results.UNKNOWN_EXPLANATION,
        "can_view_recipients": actor.can(Perm.CONTACTS_VIEW),
        "can_export": actor.can(Perm.CONTACTS_EXPORT),
        "pause_message": lifecycle.pause_message(campaign),
        "preview_form": extra.pop("preview_form", None) or PreviewForm(),
        "can_manage": actor.can(Perm.CAMPAIGNS_MANAGE), **extra,
    }


@login_required
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    return render(request, "campaigns/detail.html", _detail_context(request, campaign))


@login_required
def campaign_progress(request: HttpRequest, campaign_id: int) -> JsonResponse:
    """The progress bar's poll (static/js/campaigns-progress.js, X-CareRelay-Background: 1): no PHI."""
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    return JsonResponse(results.progress(actor=request.actor, campaign=campaign).as_json())


@login_required
def campaign_recipients(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Who got what: one page of recipients (an audited PHI read through results.recipient_page)."""
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    state = request.GET.get("state", "")
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    rows, pages = results.recipient_page(actor=request.actor, campaign=campaign, state=state, page=page)
    return render(request, "campaigns/recipients.html", {
        "campaign": campaign, "rows": rows, "pages": pages, "page": min(max(page, 1), pages), "state": state,
        "states": [(value, label) for value, label in results.RecipientState.choices],
        "unknown_explanation": results.UNKNOWN_EXPLANATION,
        "can_export": request.actor.can(Perm.CONTACTS_EXPORT)})


@login_required
@require_POST
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The per-recipient results as CSV/XLSX (POST: a download of PHI is never a bookmarkable GET)."""
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    file_format = request.POST.get("format", "csv")
    if file_format not in results.EXPORT_FORMATS:
        flash.error(request, "Choose CSV or Excel (XLSX).")
        return redirect("campaigns:recipients", campaign.pk)
    content_type, body = results.export_recipients(actor=request.actor, campaign=campaign,
                                                   file_format=file_format)
    response = StreamingHttpResponse(body, content_type=content_type)
    name = f"campaign-{campaign.pk}-recipients.{file_format}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def campaign_count(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    try:
        counts = selectors.count_audience(actor=request.actor, campaign=campaign)
    except CampaignRefused as exc:
        flash.error(request, exc.message)
    else:
        left_out = counts.total - counts.eligible
        flash.success(request, f"{counts.eligible:,} patients will receive it; {left_out:,} are left out "
                               "(reasons below).")
    return redirect("campaigns:detail", campaign.pk)


@login_required
@require_POST
def campaign_upload(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The audience's phone list arrives in the POST body (never in a URL) and is kept as blind indexes."""
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    form = AudienceUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("numbers", ["Choose a file of phone numbers."]):
            flash.error(request, error)
        return redirect("campaigns:edit", campaign.pk)
    try:
        result = campaign_services.upload_audience_numbers(actor=request.actor, campaign=campaign,
                                                           lines=form.cleaned_data["numbers"])
    except CampaignRefused as exc:
        flash.error(request, exc.message)
        return redirect("campaigns:edit", campaign.pk)
    flash.success(request, f"{result['numbers']:,} numbers read ({result['invalid']:,} not valid numbers, "
                           f"{result['duplicates']:,} repeated); "
                           f"{result['matched_contacts']:,} match patients.")
    return redirect("campaigns:detail", campaign.pk)


@login_required
@require_POST
def campaign_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    form = PreviewForm(request.POST)
    preview, not_found = None, False
    if form.is_valid():
        try:
            preview = selectors.preview_for_contact(actor=request.actor, template=campaign.template,
                                                    query=form.cleaned_data["contact"],
                                                    organization=request.organization)
        except CampaignRefused as exc:
            flash.error(request, exc.message)
        not_found = preview is None
    return render(request, "campaigns/detail.html",
                  _detail_context(request, campaign, preview=preview, preview_not_found=not_found,
                                  preview_form=form))


_ACTIONS = {
    "schedule": (lifecycle.schedule_campaign, "Campaign scheduled."),
    "unschedule": (lifecycle.unschedule_campaign, "Campaign moved back to draft."),
    "start": (lifecycle.start_campaign, "Campaign started: recipients are being prepared."),
    "pause": (lifecycle.pause_campaign, "Campaign paused: no more messages go out until you resume it."),
    "resume": (lifecycle.resume_campaign, "Campaign resumed."),
    "cancel": (lifecycle.cancel_campaign, "Campaign cancelled: nothing more will be sent."),
}


@login_required
@require_POST
def campaign_action(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = selectors.get_campaign(actor=request.actor, campaign_id=campaign_id)
    if action == "delete":
        try:
            campaign_services.delete_campaign(actor=request.actor, campaign=campaign)
        except CampaignRefused as exc:
            flash.error(request, exc.message)
            return redirect("campaigns:detail", campaign.pk)
        flash.success(request, "Campaign deleted.")
        return redirect("campaigns:list")
    if action not in _ACTIONS:
        raise Http404("No such action.")
    service, done = _ACTIONS[action]
    try:
        service(actor=request.actor, campaign=campaign)
    except CampaignRefused as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, done)
    return redirect("campaigns:detail", campaign.pk)
