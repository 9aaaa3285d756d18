"""Billing in the partner API: ``GET /api/v1/usage`` (this period against the plan, for keys
with the ``usage:read`` scope), and how a quota refusal is answered: HTTP 402 with a
machine-readable body.

``exception_handler`` wraps DRF's: set ``REST_FRAMEWORK["EXCEPTION_HANDLER"] =
"billing.api.exception_handler"`` (or call ``quota_exceeded_response`` from the project's own
handler). The body is ``QuotaExceeded.as_dict()``: ``code``, ``message``, ``needed``,
``included``, ``used``, ``remaining``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from billing.exceptions import QuotaExceeded
from billing.selectors import usage_summary


def quota_exceeded_response(exc: QuotaExceeded) -> Response:
    return Response({"error": exc.as_dict()}, status=exc.http_status)


def exception_handler(exc, context):
    if isinstance(exc, QuotaExceeded):
        return quota_exceeded_response(exc)
    return drf_exception_handler(exc, context)


class CapSerializer(serializers.Serializer):
    label = serializers.CharField()
    used = serializers.IntegerField()
    cap = serializers.IntegerField(allow_null=True, help_text="null: the plan has no cap")


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    segments = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan's code")
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Exclusive: the first day of the next period")
    included_segments = serializers.IntegerField()
    used_segments = serializers.IntegerField(help_text="Outbound SMS/WhatsApp segments sent this period")
    remaining_segments = serializers.IntegerField()
    percent_used = serializers.IntegerField()
    projected_segments = serializers.IntegerField(help_text="At this period's pace so far")
    inbound_messages = serializers.IntegerField()
    outbound_messages = serializers.IntegerField()
    segments_by_origin = serializers.DictField(child=serializers.IntegerField(),
                                               help_text="campaign, staff, auto_reply, otp, intake, api…")
    days = DaySerializer(many=True)
    caps = CapSerializer(many=True)


class UsageViewSet(TenantViewSet):
    """This billing period's usage against the plan: segments, messages, caps (no money, no PHI)."""

    action_perms = {"current": Perm.BILLING_VIEW}

    @extend_schema(responses=UsageSerializer)
    def current(self, request):
        summary = usage_summary(actor=self.actor)
        return Response(UsageSerializer({
            "plan": summary.plan.code, "period_start": summary.period_start, "period_end": summary.period_end,
            "included_segments": summary.included, "used_segments": summary.used,
            "remaining_segments": summary.remaining, "percent_used": summary.percent,
            "projected_segments": summary.projected, "inbound_messages": summary.inbound_messages,
            "outbound_messages": summary.outbound_messages,
            "segments_by_origin": {code: segments for code, _, segments in summary.by_origin},
            "days": [{"day": d.day, "segments": d.total} for d in summary.days],
            "caps": [{"label": c.label, "used": c.used, "cap": c.cap} for c in summary.caps],
        }).data)

