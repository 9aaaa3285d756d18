"""Partner API for campaigns and their message templates: create, edit while editable, schedule,
pause, resume, cancel, progress counts and the per-recipient list.

Thin doors onto the same services and selectors as the web UI (campaigns/views.py): the
services check the key's permission and record the audit events, ``results.recipient_page``
audits the recipient list with the key as actor. Refusals (``CampaignRefused``) become the
one error shape in ``campaign_errors``. Relation ids in a body are the key's organisation's
only: another organisation's channel, template or tag reads as "does not exist".
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django import forms
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts.partner_api.errors import ApiError
from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.serializers import OrganizationScopedPrimaryKey, StrictCharField, StrictSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from campaigns import contacts_access, results, selectors
from campaigns.errors import CampaignRefused
from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignKind,
    CampaignRecipient,
    CampaignState,
    MessageTemplate,
    RecipientState,
    SkipReason,
)
from campaigns.services import campaigns as campaign_services
from campaigns.services import lifecycle
from campaigns.services.campaigns import CONDITION_OPS
from messaging.models import Channel

MAX_ID = 2**31 - 1
MAX_RECIPIENT_PAGE = 200

# Refusals about one field of the request: a 400 naming it (the rest are 409s: the campaign's
# or its channel's/template's state, not the request, is what stands in the way).
_FIELD_REFUSALS = {
    "name_required": "name", "kind": "kind", "kind_fixed": "kind", "audience_source": "audience.source",
    "tag_match": "audience.tag_match", "condition": "audience.conditions",
    "exclude_days": "audience.exclude_messaged_days", "send_at_naive": "send_at", "send_at_past": "send_at",
    "send_at_required": "send_at", "window": "send_window", "unknown_field": None,
}
_CONFLICT_FIELDS = {"channel_inactive": "channel", "no_variants": "template", "template_syntax": "template",
                    "sms_needs_body": "template", "whatsapp_needs_template": "template",
                    "whatsapp_template_channel": "template"}


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


# --- fields ----------------------------------------------------------------------------------
def _scoped_id(model, **kwargs) -> OrganizationScopedPrimaryKey:
    # The manager, not a queryset: DRF calls .all() on it per request, inside the key's scope.
    return OrganizationScopedPrimaryKey(queryset=model.objects,
                                        pk_field=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                        **kwargs)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with its offset: a time without one is ambiguous, so it is refused
    rather than read in some default zone."""

    default_error_messages = {"naive": "Give the time zone too, e.g. 2026-12-01T09:00:00Z or "
                                       "2026-12-01T10:00:00+01:00."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None  # out of range: the parent says so
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


_LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


@extend_schema_field({"type": "string", "pattern": _LOCAL_TIME, "example": "09:00"})
class LocalTimeField(serializers.Field):
    """A wall-clock time, HH:MM: a sending window is read in each patient's own time zone, so a
    time with an offset (which ISO "time" allows, and the database would drop) is refused."""

    default_error_messages = {"invalid": "Give a time as HH:MM (24-hour, no time zone: each patient's "
                                         "own applies)."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(_LOCAL_TIME, data):
            self.fail("invalid")
        return datetime.time.fromisoformat(data)

    def to_representation(self, value):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _id_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                 max_length=100, required=False, help_text=help_text)


# --- serializers -------------------------------------------------------------------------------
class ConditionSerializer(StrictSerializer):
    """A custom-field condition of the audience."""

    key = StrictCharField(max_length=50, help_text="A custom field's key (GET /custom-fields).")
    op = serializers.ChoiceField(choices=[(op, op) for op in CONDITION_OPS])
    value = StrictCharField(max_length=200, required=False, allow_blank=True,
                            help_text="For equals: compared in the field's own form (number, date, choice).")


class ConditionOutSerializer(serializers.Serializer):
    key = serializers.CharField()
    op = serializers.ChoiceField(choices=[(op, op) for op in CONDITION_OPS])
    value = serializers.CharField(allow_null=True)


_AUDIENCE_FIELDS = {"source": "audience_source", "tags": "tag_ids", "tag_match": "tag_match",
                    "conditions": "conditions", "exclude_tags": "exclude_tag_ids",
                    "exclude_messaged_days": "exclude_messaged_days"}


class AudienceWriteSerializer(StrictSerializer):
    """Who receives it: everyone eligible or patients with tags, narrowed by conditions and exclusions."""

    source = serializers.ChoiceField(
        choices=[(s, AudienceSource(s).label) for s in (AudienceSource.EVERYONE, AudienceSource.TAGS)],
        required=False, help_text="everyone (default) or tags. Uploaded phone lists are made in the web UI.")
    tags = _id_list("Tag ids (GET /tags), for source tags.")
    tag_match = serializers.ChoiceField(choices=Campaign.TagMatch.choices, required=False,
                                        help_text="Patients need any (default) or all of the tags.")
    conditions = serializers.ListField(child=ConditionSerializer(), max_length=10, required=False,
                                       help_text="Custom-field conditions; all must hold.")
    exclude_tags = _id_list("Leave out patients with any of these tag ids.")
    exclude_messaged_days = serializers.IntegerField(
        min_value=1, max_value=365, required=False, allow_null=True,
        help_text="Leave out patients messaged in the last N days.")

    def _organization_tags(self, ids: list[int]) -> list[int]:
        actor = self.context["request"].user.actor
        found = set(contacts_access.tag_ids_of_organization(ids, actor=actor))
        missing = sorted(set(ids) - found)
        if missing:
            # Another organisation's tag reads exactly like a missing one.
            raise serializers.ValidationError(
                [f"Tag {tag_id} does not exist in your organisation (GET /tags)." for tag_id in missing[:10]],
                code="does_not_exist")
        return sorted(set(ids))

    def validate_tags(self, value):
        return self._organization_tags(value)

    def validate_exclude_tags(self, value):
        return self._organization_tags(value)


class SendWindowSerializer(StrictSerializer):
    """The hours messages go out, in each patient's own time zone (outside them: quiet hours)."""

    start = LocalTimeField(help_text="Opens, in each patient's own time zone (HH:MM).")
    end = LocalTimeField(help_text="Closes (HH:MM); may be before start for a window over midnight.")

    def validate(self, attrs):
        # Both, even in a PATCH (which skips missing fields): {} must not reset the window.
        missing = [name for name in ("start", "end") if name not in attrs]
        if missing:
            raise serializers.ValidationError({name: [ErrorDetail("This field is required.", code="required")]
                                               for name in missing})
        return attrs


class CampaignCreateSerializer(StrictSerializer):
    """A new campaign: a draft until it is scheduled (POST /campaigns/{id}/schedule)."""

    name = StrictCharField(max_length=120)
    kind = serializers.ChoiceField(choices=CampaignKind.choices,
                                   help_text="care: sent unless opted out; outreach: only to opt-ins. Fixed.")
    channel = _scoped_id(Channel, help_text="The sending channel's id (GET /channels).")
    template = _scoped_id(MessageTemplate, help_text="The message template's id (GET /message-templates).")
    audience = AudienceWriteSerializer(required=False)
    send_window = SendWindowSerializer(required=False, allow_null=True,
                                       help_text="Outside it are quiet hours; null: the organisation's.")


class CampaignUpdateSerializer(CampaignCreateSerializer):
    """The fields to change (the rest stay as they are)."""

    kind = None  # chosen at creation, never changed
    send_at = AwareDateTimeField(required=False, help_text=(
        "A scheduled campaign's new start time (in the future). A draft gets its time from "
        "POST /campaigns/{id}/schedule."))


class AudienceSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=AudienceSource.choices, source="audience_source")
    tags = serializers.ListField(child=serializers.IntegerField(), source="tag_ids")
    tag_match = serializers.ChoiceField(choices=Campaign.TagMatch.choices)
    conditions = ConditionOutSerializer(many=True)
    exclude_tags = serializers.ListField(child=serializers.IntegerField(), source="exclude_tag_ids")
    exclude_messaged_days = serializers.IntegerField(allow_null=True)
    uploaded_numbers = serializers.IntegerField(help_text="Numbers of an uploaded list (source upload).")


class SendWindowOutSerializer(serializers.Serializer):
    start = LocalTimeField()
    end = LocalTimeField()


class CampaignSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=CampaignState.choices, source="state")
    channel = serializers.IntegerField(source="channel_id")
    template = serializers.IntegerField(source="template_id")
    audience = AudienceSerializer(source="*")
    send_at = serializers.DateTimeField(allow_null=True, help_text=(
        "When a scheduled campaign starts (a started one: when it was due)."))
    send_window = serializers.SerializerMethodField()
    pause_reason = serializers.SerializerMethodField()
    pause_message = serializers.SerializerMethodField()
    status_changed_at = serializers.DateTimeField(source="state_changed_at", allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True, help_text="When it completed or was cancelled.")

    class Meta:
        model = Campaign
        fields = ["id", "name", "kind", "status", "channel", "template", "audience", "send_at", "send_window",
                  "pause_reason", "pause_message", "created_at", "updated_at", "status_changed_at",
                  "started_at", "finished_at"]
        read_only_fields = fields

    @extend_schema_field(SendWindowOutSerializer(allow_null=True))
    def get_send_window(self, campaign: Campaign):
        if campaign.send_window_start is None or campaign.send_window_end is None:
            return None
        return SendWindowOutSerializer({"start": campaign.send_window_start,
                                        "end": campaign.send_window_end}).data

    @extend_schema_field(serializers.ChoiceField(choices=[(r.value, r.value) for r in lifecycle.PauseReason],
                                                 allow_null=True))
    def get_pause_reason(self, campaign: Campaign):
        return campaign.pause_reason or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_pause_message(self, campaign: Campaign):
        try:
            return lifecycle.PauseReason(campaign.pause_reason).message if campaign.pause_reason else None
        except ValueError:
            return None


class ScheduleSerializer(StrictSerializer):
    """When to start: a time in the future, or nothing for now."""

    send_at = AwareDateTimeField(required=False, allow_null=True,
                                 help_text="When to start (in the future). Absent or null: start now.")


_StateCounts = type("RecipientStateCounts", (serializers.Serializer,),
                    {state: serializers.IntegerField() for state in RecipientState.values})


class FunnelStageSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=[(key, label) for key, label in results.FUNNEL])
    label = serializers.CharField()
    count = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="Of the recipients not skipped.")


class AudienceCountSerializer(serializers.Serializer):
    eligible = serializers.IntegerField(help_text="Patients it would be sent to.")
    total = serializers.IntegerField(help_text="Patients considered (eligible + excluded).")
    excluded = serializers.DictField(child=serializers.IntegerField(), help_text="Left out, by reason.")
    segments_total = serializers.IntegerField(help_text="Segments it would use (what billing checks).")
    segments_max = serializers.IntegerField(help_text="The longest message, in segments.")
    counted_at = serializers.DateTimeField(allow_null=True)


class RefusalSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class CampaignStatsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CampaignState.choices)
    total = serializers.IntegerField(help_text="Recipient rows (made when the campaign starts).")
    progress_percent = serializers.IntegerField(help_text="Recipients no longer waiting to be sent, of all.")
    counts = _StateCounts(help_text="Recipients by live state (the message's delivery status if it has one).")
    skipped_by_reason = serializers.DictField(child=serializers.IntegerField())
    replied = serializers.IntegerField()
    opted_out = serializers.IntegerField(help_text="Recipients who replied STOP.")
    opt_out_rate = serializers.FloatField(help_text="Percent of those sent.")
    funnel = FunnelStageSerializer(many=True)
    audience = AudienceCountSerializer(allow_null=True, help_text=(
        "Drafts and scheduled campaigns: who it would reach now, counted for this answer. Others: the "
        "last count before it started, if any."))
    audience_refusal = RefusalSerializer(allow_null=True, help_text="Why the audience could not be counted.")


class RecipientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    contact = serializers.IntegerField(help_text="GET /contacts/{id} for who it is.")
    state = serializers.ChoiceField(choices=RecipientState.choices,
                                    help_text="Live: the message's delivery status where it has one.")
    skip_reason = serializers.ChoiceField(choices=SkipReason.choices, allow_null=True)
    message = serializers.IntegerField(allow_null=True, help_text="The message sent, once queued.")
    conversation = serializers.IntegerField(allow_null=True, help_text=(
        "The conversation of the patient's reply, else of the message (once it has one)."))
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    replied_at = serializers.DateTimeField(allow_null=True)
    opted_out_by_reply = serializers.BooleanField()


class RecipientPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(help_text="The page served (a page past the end serves the last).")
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RecipientSerializer(many=True)


class TemplateVariantSerializer(serializers.Serializer):
    language = serializers.CharField()
    body = serializers.CharField(help_text="SMS text with placeholders; empty for a WhatsApp template.")
    whatsapp_template = serializers.IntegerField(source="whatsapp_template_id", allow_null=True)


class MessageTemplateSerializer(serializers.ModelSerializer):
    variants = TemplateVariantSerializer(many=True)

    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "on_missing", "variants", "created_at", "updated_at"]
        read_only_fields = fields


# --- filters -----------------------------------------------------------------------------------
@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class _IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class CampaignFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(field_name="state", choices=CampaignState.choices)
    kind = django_filters.ChoiceFilter(choices=CampaignKind.choices)

    class Meta:
        model = Campaign
        fields = ["status", "kind"]


class RecipientQuery(StrictFilterSet):
    """The recipient list's query parameters (read by ``results.recipient_page``, not as filters)."""

    state = django_filters.ChoiceFilter(choices=RecipientState.choices, method="_read")
    page = _IntegerFilter(min_value=1, max_value=MAX_ID, method="_read")
    page_size = _IntegerFilter(min_value=1, max_value=MAX_RECIPIENT_PAGE, method="_read")

    class Meta:
        model = CampaignRecipient
        fields = ["state", "page", "page_size"]

    def _read(self, queryset, name, value):
        return queryset


# --- views -------------------------------------------------------------------------------------
_CAMPAIGN_EXAMPLE = OpenApiExample("A campaign", response_only=True, value={
    "id": 12, "name": "Flu shots October", "kind": "care", "status": "running", "channel": 1, "template": 3,
    "audience": {"source": "tags", "tags": [4], "tag_match": "any",
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
        values = {key: data[key] for key in ("name", "channel", "template", "send_at") if key in data}
        audience = data.get("audience") or {}
        values |= {name: audience[key] for key, name in _AUDIENCE_FIELDS.items() if key in audience}
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
                                             page=params.get("page") or 1, per_page=per_page)
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
