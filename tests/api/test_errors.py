"""One error shape for bad input: malformed JSON, wrong types, unknown fields, oversized bodies."""

from __future__ import annotations

import json

import pytest
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from accounts.partner_api.serializers import StrictSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm

pytestmark = pytest.mark.django_db


class _Body(StrictSerializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=1)


class _Probe(TenantViewSet):
    action_perms = {"create": Perm.CONTACTS_EDIT}
    acted: list = []

    def create(self, request):
        body = _Body(data=request.data)
        body.is_valid(raise_exception=True)
        self.acted.append(body.validated_data)
        return Response({"ok": True}, status=201)


def _post(key, raw: bytes, content_type="application/json"):
    request = APIRequestFactory().generic("POST", "/probe", raw, content_type=content_type,
                                          HTTP_AUTHORIZATION=f"Bearer {key}")
    response = _Probe.as_view({"post": "create"})(request)
    response.render()
    return response.status_code, json.loads(response.content)


def test_malformed_json_is_a_400_parse_error(key_a):
    status, body = _post(key_a, b'{"name": ')
    assert status == 400 and body["error"]["code"] == "parse_error"


def test_wrong_types_and_unknown_fields_are_listed_per_field(key_a):
    status, body = _post(key_a, json.dumps({"name": "x" * 11, "count": "many", "colour": "red"}).encode())
    assert status == 400
    error = body["error"]
    assert error["code"] == "validation_error"
    assert {d["field"] for d in error["details"]} == {"colour"}  # unknown fields refused first
    status, body = _post(key_a, json.dumps({"name": "x" * 11, "count": "many"}).encode())
    fields = {d["field"]: d["code"] for d in body["error"]["details"]}
    assert fields == {"name": "max_length", "count": "invalid"}
    assert body["error"]["field"] == "name"
    assert _Probe.acted == []


def test_an_oversized_body_is_a_413(key_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    status, body = _post(key_a, json.dumps({"name": "x" * 5000, "count": 1}).encode())
    assert status == 413 and body["error"]["code"] == "request_too_large"


def test_an_unsupported_media_type_is_a_415(key_a):
    status, body = _post(key_a, b"name=x", content_type="text/plain")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
