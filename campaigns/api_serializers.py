"""The campaigns API's serializers, fields and filters (campaigns/api.py holds the views)."""

from __future__ import annotations

import datetime
import re

import django_filters
from django import forms
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.serializers import OrganizationScopedPrimaryKey, StrictCharField, StrictSerializer
from campaigns import contacts_access, results
from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignKind,
    CampaignRecipient,
    CampaignState,
    MessageTemplate,
    Questionnaire,
    RecipientState,
    SkipReason,
)
from campaigns.services import lifecycle
from campaigns.services.campaigns import CONDITION_OPS
from messaging.models import Channel

MAX_ID = 2**31 - 1
MAX_RECIPIENT_PAGE = 200


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


AUDIENCE_FIELDS = {"source": "audience_source", "tags": "tag_ids", "tag_match": "tag_match",
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
    questionnaire = _scoped_id(Questionnaire, required=False, allow_null=True, help_text=(
        "Optional (SMS channels): an intake questionnaire (GET /questionnaires) switched on and "
        "with questions; each recipient's message is followed by its first question. null: none."))
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
    questionnaire = serializers.IntegerField(
        source="questionnaire_id", allow_null=True,
        help_text="The questionnaire each recipient is then asked (GET /questionnaires); null: none.")
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
        fields = ["id", "name", "kind", "status", "channel", "template", "questionnaire", "audience",
                  "send_at", "send_window", "pause_reason", "pause_message", "created_at", "updated_at",
                  "status_changed_at", "started_at", "finished_at"]
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
        return lifecycle.pause_message(campaign) or None


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
