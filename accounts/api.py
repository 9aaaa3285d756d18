"""Partner API for the organisation itself: the key's own description, and the audit log
(keys with the ``audit:read`` scope, which only owners and admins can grant)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.viewsets import ANY_VALID_KEY, TenantViewSet
from accounts.roles import Perm
from audit import AuditAction
from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    action = serializers.SerializerMethodField()
    action_code = serializers.IntegerField(source="action")

    class Meta:
        model = AuditEvent
        fields = ["id", "seq", "created_at", "action", "action_code", "actor_type", "actor_id", "actor_label",
                  "target_type", "target_id", "request_id", "ip", "detail", "hash", "prev_hash"]
        read_only_fields = fields

    def get_action(self, event) -> str:
        return AuditAction(event.action).name.lower()


class AuditEventFilter(StrictFilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    action = django_filters.ChoiceFilter(choices=[(a.name.lower(), a.label) for a in AuditAction],
                                         method="filter_action")
    actor_type = django_filters.ChoiceFilter(choices=[(v, v) for v in ("user", "api_key", "system",
                                                                       "anonymous")])

    class Meta:
        model = AuditEvent
        fields = ["since", "until", "action", "actor_type"]

    def filter_action(self, queryset, name, value):
        return queryset.filter(action=AuditAction[value.upper()].value)


_ACTION_NAMES = [a.name.lower() for a in AuditAction]


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("action", str, enum=_ACTION_NAMES, description="Only events of this action."),
]))
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's audit events, newest first (ids, counts and field names only: no PHI)."""

    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers the JSON 404
    model = AuditEvent
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    action_perms = {"list": Perm.AUDIT_VIEW, "retrieve": Perm.AUDIT_VIEW}
    ordering_fields = ["id"]

    def base_queryset(self, actor):
        return AuditEvent.objects.all()


class KeySerializer(serializers.Serializer):
    prefix = serializers.CharField()
    name = serializers.CharField()
    organization = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)


class KeyViewSet(TenantViewSet):
    """Which key this is, for which organisation, with which scopes (for a partner's set-up check)."""

    action_perms = {"me": ANY_VALID_KEY}

    @extend_schema(responses=KeySerializer)
    def me(self, request):
        key = request.auth
        return Response(KeySerializer({"prefix": key.prefix, "name": key.name,
                                       "organization": request.user.organization.name,
                                       "scopes": key.scopes, "expires_at": key.expiry_date}).data)


router = SimpleRouter(trailing_slash=False)
router.register("audit-events", AuditEventViewSet, basename="audit-event")
