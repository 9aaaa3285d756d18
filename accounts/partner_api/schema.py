"""OpenAPI: the key's bearer scheme and the one error shape on every operation."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, stable (e.g. validation_error, not_found).")
    message = serializers.CharField(help_text="A sentence saying what went wrong and what to do.")
    field = serializers.CharField(allow_null=True, help_text="The first field at fault, if any.")
    details = ErrorDetailSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()

    class Meta:
        ref_name = "Error"


# Answers any operation can give, besides its own successes.
ERROR_STATUSES = {
    "400": "Malformed request or invalid fields (details list each field).",
    "401": "Missing, unknown, revoked or expired API key.",
    "403": "The key's scopes do not allow this action.",
    "404": "No such object in your organisation.",
    "429": "Too many requests for this key: wait Retry-After seconds.",
}


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in ERROR_STATUSES:
            responses.setdefault(code, self._get_response_for_code(ErrorSerializer, code,
                                                                  direction=direction))
            responses[code]["description"] = ERROR_STATUSES[code]
        return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.partner_api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "crk_<prefix>.<secret>",
                "description": "An organisation API key, made by an owner or admin under "
                               "Settings → API keys."}
