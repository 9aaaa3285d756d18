"""Partner API for messaging: channels, conversations and their messages; replies and WhatsApp
templates sent into a conversation.

Thin doors onto messaging's selectors (``messaging.selectors``/``api_selectors``) and its
outbound services: each checks the key's permission and organisation, and every page of PHI is
audited with the key as actor.
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.serializers import FieldsBuiltOnce, StrictCharField, StrictSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from messaging import api_selectors, selectors
from messaging.models import Channel, Conversation, Message
from messaging.services import outbound


class ChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "name", "provider", "kind", "address", "is_active", "is_default",
                  "rate_limit_per_second"]
        read_only_fields = fields


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's sending channels (no credentials, ever)."""

    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers the JSON 404
    model = Channel
    serializer_class = ChannelSerializer
    action_perms = {"list": Perm.INBOX_VIEW, "retrieve": Perm.INBOX_VIEW}
    ordering_fields = ["id", "name"]

    def base_queryset(self, actor):
        return selectors.partner_channels(actor=actor)


class ConversationSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """A conversation: one contact on one channel."""

    channel = serializers.IntegerField(source="channel_id", read_only=True)
    contact = serializers.IntegerField(source="contact_id", read_only=True,
                                       help_text="GET /contacts/{id} for who it is.")
    assigned_to = serializers.IntegerField(source="assigned_to_id", allow_null=True, read_only=True,
                                           help_text="The staff member's user id, if assigned.")

    class Meta:
        model = Conversation
        fields = ["id", "channel", "contact", "status", "assigned_to", "unread_count", "last_message_at",
                  "last_inbound_at", "created_at", "closed_at"]
        read_only_fields = fields


class MessageSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """A message of a conversation, inbound or outbound (its body decrypted)."""

    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True)
    body = serializers.CharField(allow_null=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "conversation", "channel", "direction", "origin", "status", "body", "template_name",
                  "segments", "error_code", "created_at", "sent_at", "delivered_at", "read_at", "failed_at"]
        read_only_fields = fields


class ReplySerializer(StrictSerializer):
    body = StrictCharField(max_length=4096, help_text="The text (SMS: at most 1,600 characters).")


class TemplateSendSerializer(StrictSerializer):
    # A plain id, scoped by selectors.sendable_template (the key's organisation only, one query with
    # its channel): another organisation's id is a 404 like a missing one (test_hardening_template_scope).
    template = serializers.IntegerField(min_value=1, max_value=2**31 - 1,
                                        help_text="The WhatsApp template's id (its channel's).")
    parameters = serializers.ListField(child=StrictCharField(max_length=1024), max_length=20, default=list)


class _IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class ConversationFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    contact = _IntegerFilter(field_name="contact_id", min_value=1, max_value=2**31 - 1,
                             help_text="Only this contact's conversations.")
    channel = _IntegerFilter(field_name="channel_id", min_value=1, max_value=2**31 - 1)
    active_since = django_filters.IsoDateTimeFilter(field_name="last_message_at", lookup_expr="gte",
                                                    help_text="Only conversations with a message since then.")

    class Meta:
        model = Conversation
        fields = ["status", "contact", "channel", "active_since"]


_MESSAGE_EXAMPLE = OpenApiExample("A message", response_only=True, value={
    "id": 7, "conversation": 3, "channel": 1, "direction": "inbound", "origin": "patient",
    "status": "received", "body": "Can I move my appointment to Friday?", "template_name": "", "segments": 1,
    "error_code": "", "created_at": "2026-12-01T09:00:00Z", "sent_at": None, "delivered_at": None,
    "read_at": None, "failed_at": None})


_ID_FILTER = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}

# A send's refusals (outbound.SendRefused, answered by the API's error handler): the plan's is a
# 402 with billing's numbers, as every quota refusal of the API (SEND_OVER_PLAN is also intake's
# start's); the rest a 422 with their code.
SEND_OVER_PLAN = OpenApiResponse(ErrorSerializer, description=(
    "The plan's segments are used up: error.details[0] has needed, included, used and remaining."),
    examples=[OpenApiExample("Over the plan", value={"error": {
        "code": "segments_exhausted", "message": "This needs 1 segments but only 0 of your 100 included "
                                                 "segments are left this period (100 used). …",
        "field": None, "details": [{"field": None, "code": "segments_exhausted", "message": "This needs …",
                                    "needed": 1, "included": 100, "used": 100, "remaining": 0}]}})])
_SEND_REFUSED = OpenApiResponse(ErrorSerializer, description=(
    "Not sent: opted out, WhatsApp's 24-hour window closed, the channel switched off… (error.code)."))


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("contact", _ID_FILTER, description="Only this contact's conversations."),
    OpenApiParameter("channel", _ID_FILTER, description="Only this channel's conversations."),
]))
class ConversationViewSet(TenantViewSet):
    """The organisation's conversations (one per channel and contact while open)."""

    model = Conversation
    # Any id reaches the view, which answers our JSON 404 (the default pattern stops at a dot,
    # and Django\'s HTML 404 page is not the API\'s error shape).
    lookup_value_regex = "[^/]+"
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    ordering_fields = ["id", "created_at"]
    action_perms = {"list": Perm.INBOX_VIEW, "retrieve": Perm.INBOX_VIEW, "messages": Perm.INBOX_VIEW,
                    "reply": Perm.MESSAGES_SEND, "send_template": Perm.MESSAGES_SEND}

    def base_queryset(self, actor):
        return api_selectors.partner_conversations(actor=actor)

    @extend_schema(summary="Reply in a conversation", request=ReplySerializer,
                   responses={201: MessageSerializer, 402: SEND_OVER_PLAN, 422: _SEND_REFUSED},
                   description="Queues a text to the conversation's patient (consent, WhatsApp's 24-hour "
                               "window and the plan's segments are checked; a refusal is a 422 with its "
                               "code, the plan's a 402 with the numbers). Send an Idempotency-Key: a "
                               "retry never sends twice.")
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def reply(self, request, pk=None):
        conversation = selectors.conversation_for_action(actor=self.actor, conversation_id=pk,
                                                         perm=Perm.MESSAGES_SEND)
        body = ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = outbound.send_reply(conversation=conversation, body=body.validated_data["body"],
                                      actor=self.actor)
        return Response(MessageSerializer(message).data, status=201)

    @extend_schema(summary="Send an approved WhatsApp template", request=TemplateSendSerializer,
                   responses={201: MessageSerializer, 402: SEND_OVER_PLAN, 422: _SEND_REFUSED},
                   description="The one message WhatsApp allows outside the 24-hour window (a refusal is "
                               "a 422 with its code, the plan's a 402 with the numbers).")
    @action(detail=True, methods=["post"], url_path="template", filterset_class=None, filter_backends=[])
    def send_template(self, request, pk=None):
        conversation = selectors.conversation_for_action(actor=self.actor, conversation_id=pk,
                                                         perm=Perm.MESSAGES_SEND)
        body = TemplateSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = selectors.sendable_template(actor=self.actor, template_id=body.validated_data["template"])
        message = outbound.send_template(conversation=conversation, template=template,
                                         parameters=body.validated_data["parameters"], actor=self.actor)
        return Response(MessageSerializer(message).data, status=201)

    @extend_schema(summary="List conversations", description="Newest first; one audit event per page.")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        used = [name for name in ConversationFilter.base_filters if name in request.query_params]
        api_selectors.conversation_page(actor=self.actor, conversations=page, filters=used)
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(summary="Get a conversation", description="Audited as viewed.")
    def retrieve(self, request, pk=None):
        conversation = selectors.get_conversation(actor=self.actor, conversation_id=pk)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(summary="List a conversation's messages", responses=MessageSerializer(many=True),
                   description="Newest first (bodies decrypted); one audit event per page.",
                   examples=[_MESSAGE_EXAMPLE])
    @action(detail=True, methods=["get"], filterset_class=None, filter_backends=[OrderingFilter])
    def messages(self, request, pk=None):
        conversation = selectors.conversation_for_action(actor=self.actor, conversation_id=pk,
                                                         perm=Perm.INBOX_VIEW)
        page = self.paginate_queryset(self.filter_queryset(
            api_selectors.partner_messages(actor=self.actor, conversation=conversation)))
        api_selectors.message_page(actor=self.actor, conversation=conversation, messages=page)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)


router = SimpleRouter(trailing_slash=False)
router.register("channels", ChannelViewSet, basename="channel")
router.register("conversations", ConversationViewSet, basename="conversation")
