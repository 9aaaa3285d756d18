"""FieldsBuiltOnce: an answer-only serializer's fields are built once per class and shared, give
what DRF's own per-instance fields give, and a field that could read its serializer is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework import serializers

from accounts.partner_api.serializers import FieldsBuiltOnce
from messaging.api import MessageSerializer
from messaging.models import Message


class _PlainMessageSerializer(serializers.ModelSerializer):
    """MessageSerializer's fields, built per instance as DRF does."""

    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True)
    body = serializers.CharField(allow_null=True, read_only=True)

    class Meta:
        model = Message
        fields = MessageSerializer.Meta.fields
        read_only_fields = fields


_WHEN = timezone.now()


def _message(**values) -> Message:
    columns = {"id": 7, "conversation_id": 3, "channel_id": 1, "direction": "outbound", "origin": "api",
               "status": "queued", "body": "See you at 9", "segments": 1, "created_at": _WHEN}
    return Message(**{**columns, **values})


def test_two_serializers_share_one_set_of_fields_and_answer_as_drf_does():
    first, second = MessageSerializer(_message()), MessageSerializer(_message(error_code="30007"))
    assert first.fields is second.fields
    assert first.data == _PlainMessageSerializer(_message()).data
    assert second.data["error_code"] == "30007" and first.data["error_code"] == ""
    many = MessageSerializer([_message(), _message(status="sent")], many=True).data
    assert [row["status"] for row in many] == ["queued", "sent"]


@pytest.mark.parametrize("field", [serializers.CharField(source="body"),
                                   serializers.SerializerMethodField()], ids=["writable", "method"])
def test_a_field_that_could_read_its_serializer_is_refused(field):
    class Unsafe(FieldsBuiltOnce, serializers.Serializer):
        risky = field

        def get_risky(self, obj):  # what a method field would call: on the first instance, not this one
            return self.context.get("whose")

    with pytest.raises(ImproperlyConfigured, match="risky"):
        _ = Unsafe(_message()).data
