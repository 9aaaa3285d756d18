"""Partner API for campaigns and their message templates: create, edit while editable, schedule,
pause, resume, cancel, progress counts and the per-recipient list.

Thin doors onto the same services and selectors as the web UI (campaigns/views.py): the
services check the key's permission and record the audit events, ``results.recipient_page``
audits the recipient list with the key as actor. Refusals (``CampaignRefused``) become the
one error shape in ``campaign_errors``. Relation ids in a body are the key's organisation's
only: another organisation's channel, template, questionnaire or tag reads as "does not exist".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models.functions import Coalesce
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts.partner_api.errors import ApiError
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from campaigns import results, selectors
from campaigns.api_serializers import (
    AUDIENCE_FIELDS,
    MAX_ID,
    MAX_RECIPIENT_PAGE,
    CampaignCreateSerializer,
    CampaignFilter,
    CampaignSerializer,
    CampaignStatsSerializer,
    CampaignUpdateSerializer,
    MessageTemplateSerializer,
    RecipientPageSerializer,
    RecipientQuery,
    ScheduleSerializer,
)
from campaigns.errors import CampaignRefused
from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignRecipient,
    CampaignState,
    MessageTemplate,
    RecipientState,
)
from campaigns.services import campaigns as campaign_services
from campaigns.services import lifecycle

# Refusals about one field of the request: a 400 naming it (the rest are 409s: the campaign's
# or its channel's/template's state, not the request, is what stands in the way).
_FIELD_REFUSALS = {
    "name_required": "name", "kind": "kind", "kind_fixed": "kind", "audience_source": "audience.source",
    "tag_match": "audience.tag_match", "condition": "audience.conditions",
    "exclude_days": "audience.exclude_messaged_days", "send_at_naive": "send_at", "send_at_past": "send_at",
    "send_at_required": "send_at", "window": "send_window", "questionnaire_channel": "questionnaire",
    "unknown_field": None,
}
_CONFLICT_FIELDS = {"channel_inactive": "channel", "no_variants": "template", "template_syntax": "template",
                    "sms_needs_body": "template", "whatsapp_needs_template": "template",
                    "whatsapp_template_channel": "template", "questionnaire_inactive": "questionnaire",
                    "questionnaire_empty": "questionnaire"}


@contextmanager
def campaign_errors() -> Iterator[None]:
    """The campaigns services' refusals as the API's one error shape (the one place they are mapped).

    A field's refusal is a 400 validation error naming it; billing's refusal a 402 with the
    numbers (``needed``, ``included``, ``remaining``), as every quota refusal of the API; a
    lifecycle change the state does not allow, or a campaign that cannot send yet, a 409 with
    the service's code. Messages never carry PHI (they name channels, templates and fields).
    """
    try:
        yield
    except CampaignRefused as exc:
        if exc.code == "quota_exceeded":
            raise ApiError(status_code=status.HTTP_402_PAYMENT_REQUIRED, code=exc.code, message=exc.message,
                           details=[{"field": None, "code": exc.code, "message": exc.message,
                                     **exc.numbers}]) from None
        if exc.code in _FIELD_REFUSALS:
            field = _FIELD_REFUSALS[exc.code]
            detail = [ErrorDetail(exc.message, code=exc.code)]
            raise serializers.ValidationError({field: detail} if field else detail) from None
        field = _CONFLICT_FIELDS.get(exc.code)
        raise ApiError(status_code=status.HTTP_409_CONFLICT, code=exc.code, message=exc.message, field=field,
                       details=[{"field": field, "code": exc.code, "message": exc.message}]) from None


# --- views -------------------------------------------------------------------------------------
_CAMPAIGN_EXAMPLE = OpenApiExample("A campaign", response_only=True, value={
    "id": 12, "name": "Flu shots October", "kind": "care", "status": "running", "channel": 1, "template": 3,
    "questionnaire": None, "audience": {"source": "tags", "tags": [4], "tag_match": "any",
                 "conditions": [{"key": "clinic", "op": "equals", "value": "north"}], "exclude_tags": [9],
                 "exclude_messaged_days": 7, "uploaded_numbers": 0},
    "send_at": "2026-10-01T16:00:00Z", "send_window": {"start": "09:00", "end": "19:00"},
    "pause_reason": None, "pause_message": None, "created_at": "2026-09-20T10:00:00Z",
    "updated_at": "2026-10-01T16:00:02Z", "status_changed_at": "2026-10-01T16:00:02Z",
    "started_at": "2026-10-01T16:00:02Z", "finished_at": None})
_CREATE_EXAMPLE = OpenApiExample("Create a care campaign", request_only=True, value={
    "name": "Flu shots October", "kind": "care", "channel": 1, "template": 3,
    "audience": {"source": "tags", "tags": [4], "exclude_tags": [9], "exclude_messaged_days": 7},
    "send_window": {"start": "09:00", "end": "19:00"}})
_STATS_EXAMPLE = OpenApiExample("A running campaign", response_only=True, value={
    "campaign": 12, "status": "running", "total": 1200, "progress_percent": 75,
    "counts": {"pending": 200, "deferred": 100, "queued": 0, "sending": 0, "sent": 300, "delivered": 450,
               "read": 40, "failed": 10, "skipped": 100, "unknown": 0},
    "skipped_by_reason": {"opted_out": 60, "no_number": 40}, "replied": 25, "opted_out": 3,
    "opt_out_rate": 0.4,
    "funnel": [{"key": "recipients", "label": "Recipients", "count": 1100, "percent": 100},
               {"key": "queued", "label": "Queued", "count": 800, "percent": 72},
               {"key": "sent", "label": "Sent", "count": 790, "percent": 71},
               {"key": "delivered", "label": "Delivered", "count": 490, "percent": 44},
               {"key": "read", "label": "Read", "count": 40, "percent": 3},
               {"key": "replied", "label": "Replied", "count": 25, "percent": 2}],
    "audience": {"eligible": 1100, "total": 1200, "excluded": {"opted_out": 60, "no_number": 40},
                 "segments_total": 1100, "segments_max": 1, "counted_at": "2026-10-01T15:58:00Z"},
    "audience_refusal": None})
_QUOTA = OpenApiResponse(ErrorSerializer, description=(
    "The plan's segments do not cover the audience: error.details[0] has needed, included and remaining."),
    examples=[OpenApiExample("Over the plan", value={"error": {
        "code": "quota_exceeded", "message": "This campaign needs 1,100 segments; your plan includes 1,000 "
                                             "and 40 remain this period. …", "field": None,
        "details": [{"field": None, "code": "quota_exceeded", "message": "This campaign needs …",
                     "needed": 1100, "included": 1000, "remaining": 40}]}})])
_CONFLICT = OpenApiResponse(ErrorSerializer, description=(
    "The campaign's status does not allow it (illegal_transition, not_editable), or it cannot send yet "
    "(channel_inactive, no_variants, sms_needs_body, …): error.message says what to do."))
_ACTION = {"request": None, "responses": {200: CampaignSerializer, 409: _CONFLICT},
           "examples": [_CAMPAIGN_EXAMPLE]}


class CampaignViewSet(TenantViewSet):
    """The organisation's campaigns."""

    model = Campaign
    # Any id reaches the view, which answers our JSON 404 (the default pattern stops at a dot,
    # and Django's HTML 404 page is not the API's error shape).
    lookup_value_regex = "[^/]+"
    serializer_class = CampaignSerializer
    parser_classes = [JSONParser]
    filterset_class = CampaignFilter
    ordering_fields = ["id", "created_at"]
    action_perms = {
        "list": Perm.CAMPAIGNS_VIEW, "retrieve": Perm.CAMPAIGNS_VIEW, "stats": Perm.CAMPAIGNS_VIEW,
        # The recipient list also needs contacts:read (results.recipient_page checks it).
        "recipients": Perm.CAMPAIGNS_VIEW,
        "create": Perm.CAMPAIGNS_MANAGE, "partial_update": Perm.CAMPAIGNS_MANAGE,
        "schedule": Perm.CAMPAIGNS_MANAGE, "pause": Perm.CAMPAIGNS_MANAGE, "resume": Perm.CAMPAIGNS_MANAGE,
        "cancel": Perm.CAMPAIGNS_MANAGE,
    }

    def base_queryset(self, actor):
        return selectors.campaigns(actor=actor)

    def _body(self, serializer_class, **kwargs) -> dict:
        body = serializer_class(data=self.request.data, context={"request": self.request}, **kwargs)
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    @staticmethod
    def _service_values(data: dict) -> dict:
        values = {key: data[key] for key in ("name", "channel", "template", "questionnaire", "send_at")
                  if key in data}
        audience = data.get("audience") or {}
        values |= {name: audience[key] for key, name in AUDIENCE_FIELDS.items() if key in audience}
        if "conditions" in values:
            values["conditions"] = [dict(condition) for condition in values["conditions"]]
        if "send_window" in data:
            window = data["send_window"] or {}
            values["send_window_start"], values["send_window_end"] = window.get("start"), window.get("end")
        return values

    @staticmethod
    def _check_audience_source(values: dict, campaign: Campaign | None = None) -> None:
        # The audience evaluator reads "tags" with no tag as everyone, and ignores tags under
        # another source: never let a partner's omission widen a send to the whole organisation.
        source = values.get("audience_source",
                            campaign.audience_source if campaign else AudienceSource.EVERYONE)
        tags = values.get("tag_ids", campaign.tag_ids if campaign else [])
        if source == AudienceSource.TAGS and not tags:
            raise serializers.ValidationError({"audience.tags": [ErrorDetail(
                "An audience of tags needs at least one tag id (GET /tags).", code="required")]})
        if values.get("tag_ids") and source != AudienceSource.TAGS:
            raise serializers.ValidationError({"audience.source": [ErrorDetail(
                f"The audience is “{source}”, so tags would be ignored: send \"source\": \"tags\" with them.",
                code="tags_need_source")]})

    def _show(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        return Response(CampaignSerializer(campaign).data, status=code)

    @extend_schema(summary="List campaigns", description="Newest first; cursor-paginated (up to 200 a page). "
                   "Filters: status, kind.", examples=[_CAMPAIGN_EXAMPLE])
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(summary="Get a campaign", examples=[_CAMPAIGN_EXAMPLE])
    def retrieve(self, request, pk=None):
        return self._show(self.get_object())

    @extend_schema(summary="Create a campaign (a draft)", request=CampaignCreateSerializer,
                   responses={201: CampaignSerializer, 409: _CONFLICT},
                   description="Channel, template and tag ids are your organisation's (another's read as "
                               "\"does not exist\"). The kind is fixed once created. Nothing is sent until "
                               "POST /campaigns/{id}/schedule.",
                   examples=[_CREATE_EXAMPLE, _CAMPAIGN_EXAMPLE])
    def create(self, request):
        data = self._body(CampaignCreateSerializer)
        values = self._service_values(data)
        self._check_audience_source(values)
        with campaign_errors():
            campaign = campaign_services.create_campaign(
                actor=self.actor, organization=request.user.organization, kind=data["kind"], **values)
        return self._show(campaign, status.HTTP_201_CREATED)

    @extend_schema(summary="Change a draft or scheduled campaign", request=CampaignUpdateSerializer,
                   responses={200: CampaignSerializer, 409: _CONFLICT},
                   description="Only the fields sent change (audience fields one by one). Refused with 409 "
                               "not_editable once it is running, paused or finished; the kind never changes.",
                   examples=[OpenApiExample("Narrow the audience", request_only=True,
                                            value={"audience": {"exclude_messaged_days": 14}}),
                             _CAMPAIGN_EXAMPLE])
    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        values = self._service_values(self._body(CampaignUpdateSerializer, partial=True))
        self._check_audience_source(values, campaign)
        if "send_at" in values and campaign.state != CampaignState.SCHEDULED:
            # Here POST /schedule without a time means "now": a time stored on a draft would
            # look like a schedule and not be one.
            raise serializers.ValidationError({"send_at": [ErrorDetail(
                "Only a scheduled campaign's time can be changed here: schedule a draft with POST "
                "/campaigns/{id}/schedule and its send_at.", code="not_scheduled")]})
        with campaign_errors():
            campaign = campaign_services.update_campaign(actor=self.actor, campaign=campaign, **values)
        return self._show(campaign)

    @extend_schema(summary="Schedule a campaign, or start it now", request=ScheduleSerializer,
                   responses={200: CampaignSerializer, 402: _QUOTA, 409: _CONFLICT},
                   description="With send_at (in the future) a draft is scheduled for then; without, it "
                               "starts now (a draft or a scheduled campaign). To move a scheduled campaign, "
                               "PATCH its send_at. Billing is asked first: a plan that cannot cover the "
                               "audience is a 402 with the numbers. Send an Idempotency-Key: a retry never "
                               "acts twice.",
                   examples=[OpenApiExample("Schedule", request_only=True,
                                            value={"send_at": "2026-10-01T16:00:00Z"}), _CAMPAIGN_EXAMPLE])
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def schedule(self, request, pk=None):
        campaign = self.get_object()
        send_at = self._body(ScheduleSerializer).get("send_at")
        with campaign_errors():
            if send_at is None:
                campaign = lifecycle.start_campaign(actor=self.actor, campaign=campaign)
            else:
                campaign = lifecycle.schedule_campaign(actor=self.actor, campaign=campaign, send_at=send_at)
        return self._show(campaign)

    @extend_schema(summary="Pause a running campaign", description="Sending stops at once; resumable.",
                   **_ACTION)
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def pause(self, request, pk=None):
        campaign = self.get_object()
        with campaign_errors():
            campaign = lifecycle.pause_campaign(actor=self.actor, campaign=campaign)
        return self._show(campaign)

    @extend_schema(summary="Resume a paused campaign",
                   description="Refused (409 channel_inactive) while its channel is switched off.", **_ACTION)
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def resume(self, request, pk=None):
        campaign = self.get_object()
        with campaign_errors():
            campaign = lifecycle.resume_campaign(actor=self.actor, campaign=campaign)
        return self._show(campaign)

    @extend_schema(summary="Cancel a campaign", description="Nothing more is sent; what was sent stays "
                   "in its results. Final.", **_ACTION)
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def cancel(self, request, pk=None):
        campaign = self.get_object()
        with campaign_errors():
            campaign = lifecycle.cancel_campaign(actor=self.actor, campaign=campaign)
        return self._show(campaign)

    @extend_schema(summary="A campaign's progress and counts", responses=CampaignStatsSerializer,
                   description="Recipients by state, skipped by reason, replies, STOPs and the delivery "
                               "funnel (no patient data). For drafts and scheduled campaigns the audience is "
                               "counted for the answer (an audited read; large audiences take seconds).",
                   examples=[_STATS_EXAMPLE])
    @action(detail=True, methods=["get"], filterset_class=None, filter_backends=[])
    def stats(self, request, pk=None):
        campaign = self.get_object()
        progress = results.progress(actor=self.actor, campaign=campaign)
        audience, refusal = campaign.audience_counts or None, None
        if campaign.is_editable:
            try:
                # Refreshes the campaign: its audience_counted_at is this count's.
                audience = selectors.count_audience(actor=self.actor, campaign=campaign).as_dict()
            except CampaignRefused as exc:
                audience, refusal = None, {"code": exc.code, "message": exc.message}
        summary = progress.as_json()
        return Response(CampaignStatsSerializer({
            "campaign": campaign.pk, "status": progress.state or campaign.state, "total": progress.total,
            "progress_percent": progress.percent, "counts": progress.counts,
            "skipped_by_reason": progress.skipped_by_reason, "replied": progress.replied,
            "opted_out": progress.opted_out, "opt_out_rate": summary["opt_out_rate"],
            "funnel": summary["funnel"],
            "audience": {**audience, "counted_at": campaign.audience_counted_at} if audience else None,
            "audience_refusal": refusal,
        }).data)

    @extend_schema(summary="A campaign's recipients", responses=RecipientPageSerializer,
                   parameters=[
                       OpenApiParameter("state", str, enum=RecipientState.values,
                                        description="Only recipients in this live state."),
                       OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                                        description="1 (default) to pages."),
                       OpenApiParameter("page_size", {"type": "integer", "minimum": 1,
                                                      "maximum": MAX_RECIPIENT_PAGE, "default": 50}),
                   ],
                   description="One page of recipients: ids, states and delivery times, no names or "
                               "numbers (GET /contacts/{id} for those). Needs campaigns:read and "
                               "contacts:read; every page is in the audit log with your key as actor.")
    @action(detail=True, methods=["get"], filterset_class=RecipientQuery, filter_backends=[],
            pagination_class=None)
    def recipients(self, request, pk=None):
        campaign = self.get_object()
        query = RecipientQuery(request.query_params, queryset=CampaignRecipient.objects.none(),
                               request=request)
        if not query.is_valid():
            raise serializers.ValidationError(query.errors)
        params = query.form.cleaned_data
        state, per_page = params.get("state") or "", params.get("page_size") or 50
        # The web UI's audited read (CAMPAIGN_RECIPIENTS_VIEWED, the key as actor).
        rows, pages = results.recipient_page(actor=self.actor, campaign=campaign, state=state,
                                             page=params.get("page") or 1, per_page=per_page,
                                             identities=False)  # contact ids only: nothing decrypted
        page = min(max(1, params.get("page") or 1), pages)
        delivery = _delivery_of(campaign, [row.recipient_id for row in rows])
        url = request.build_absolute_uri()
        return Response(RecipientPageSerializer({
            "page": page, "pages": pages, "page_size": per_page,
            "next": replace_query_param(url, "page", page + 1) if page < pages else None,
            "previous": (None if page == 1 else remove_query_param(url, "page") if page == 2
                         else replace_query_param(url, "page", page - 1)),
            "results": [{"id": row.recipient_id, "contact": row.contact_id, "state": row.state,
                         "opted_out_by_reply": row.opted_out, **delivery[row.recipient_id]} for row in rows],
        }).data)


def _delivery_of(campaign: Campaign, recipient_ids: list[int]) -> dict[int, dict]:
    """The page's skip reasons, message ids and provider status times (ids and times: no PHI),
    which the web list does not show."""
    rows = (CampaignRecipient.objects.filter(campaign=campaign, pk__in=recipient_ids)
            # The reply's conversation (where it is answered), else the one the message went to.
            .annotate(thread=Coalesce("reply_message__conversation_id", "message__conversation_id"))
            .values("pk", "skip_reason", "message_id", "thread", "message__sent_at",
                    "message__delivered_at", "message__read_at", "message__failed_at", "replied_at"))
    return {row["pk"]: {
        "skip_reason": row["skip_reason"] or None, "message": row["message_id"],
        "conversation": row["thread"], "sent_at": row["message__sent_at"],
        "delivered_at": row["message__delivered_at"], "read_at": row["message__read_at"],
        "failed_at": row["message__failed_at"], "replied_at": row["replied_at"]} for row in rows}


class MessageTemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's message templates (read-only: written in the web UI), to find a template id."""

    model = MessageTemplate
    lookup_value_regex = "[^/]+"  # as CampaignViewSet: any id gets our JSON 404
    serializer_class = MessageTemplateSerializer
    ordering_fields = ["id", "name"]
    action_perms = {"list": Perm.CAMPAIGNS_VIEW, "retrieve": Perm.CAMPAIGNS_VIEW}

    def base_queryset(self, actor):
        return selectors.templates(actor=actor).prefetch_related("variants")


router = SimpleRouter(trailing_slash=False)
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("message-templates", MessageTemplateViewSet, basename="message-template")
