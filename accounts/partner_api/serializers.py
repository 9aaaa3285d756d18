"""Serializer helpers every app's ``api.py`` uses."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields instead of ignoring them: a typo must not pass silently."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - known)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field: remove it (see the API reference for this endpoint)."]
                     for name in unknown})
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    """ModelSerializer that refuses unknown fields."""


class OrganizationScopedPrimaryKey(serializers.PrimaryKeyRelatedField):
    """A relation field whose choices are the key's organisation's rows only, so an id in a
    payload can never point into another organisation (it reads as "does not exist")."""

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        actor = getattr(getattr(request, "user", None), "actor", None)
        if actor is None:
            return queryset.none()
        return queryset.filter(organization_id=actor.organization_id)


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField turns 42 into "42", which would let a
    body that contradicts the schema through."""

    default_error_messages = {"invalid": "Send a JSON string here."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false, and only those: DRF's BooleanField also reads "yes", "0" and 1."""

    default_error_messages = {"invalid": "Send true or false (JSON booleans)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class FieldsBuiltOnce:
    """For answer-only serializers: their fields are built and bound once per class and shared.

    DRF builds a serializer's fields for every instance (a ModelSerializer introspects its model
    and deep-copies every field): 0.3 ms, a twentieth of an API reply, for a message's fifteen
    columns. Shared fields are safe only when none can read the serializer they are bound to (its
    context, a ``get_<name>`` method, writable state), so every field must be a plain read-only
    field: anything else is refused when the fields are first built.
    """

    @property
    def fields(self):
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            prototype = cls()
            shared = super(FieldsBuiltOnce, prototype).fields
            unsafe = sorted(name for name, field in shared.items()
                            if not field.read_only or isinstance(field, _CONTEXT_READERS))
            if unsafe:
                raise ImproperlyConfigured(f"{cls.__name__}: fields {unsafe} are writable or read the "
                                           "serializer they are bound to; FieldsBuiltOnce cannot share them.")
            cls._shared_fields = shared
        return shared


_CONTEXT_READERS = (serializers.SerializerMethodField, serializers.BaseSerializer, serializers.RelatedField,
                    serializers.HiddenField)
