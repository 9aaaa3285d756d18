"""Request and response shapes of the contacts API (``contacts/api.py``).

Serializers check types and sizes only; the rules (phone numbers for their country, e-mail,
names, dates of birth, custom-field types) are the contact normaliser's, run by the services,
so the API, the web forms and the importer refuse the same values with the same messages.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.partner_api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from contacts import selectors
from contacts.models import CHANNELS, Contact, CustomField, Origin, Tag
from contacts.tags import TAG_MAX


class ConsentStateSerializer(serializers.Serializer):
    opted_in = serializers.BooleanField(allow_null=True,
                                        help_text="true: opted in; false: opted out; null: never stated.")
    source = serializers.CharField(help_text="Where it came from, e.g. keyword:STOP, import, staff, api.")
    changed_at = serializers.DateTimeField(allow_null=True)


class ConsentSerializer(serializers.Serializer):
    """Consent per channel."""

    sms = ConsentStateSerializer()
    whatsapp = ConsentStateSerializer()


def consent_of(contact: Contact) -> dict:
    return {channel: vars(selectors.consent_state(contact, channel)) for channel in CHANNELS}


class ContactSerializer(serializers.Serializer):
    """A contact as the API shows it (decrypted; every read is audited with the key as actor)."""

    id = serializers.IntegerField()
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True, help_text="E.164, e.g. +14155550123")
    email = serializers.CharField(allow_null=True)
    date_of_birth = serializers.DateField(allow_null=True)
    preferred_channel = serializers.ChoiceField(choices=CHANNELS)
    language = serializers.CharField(help_text="e.g. en, es, fr-CA; empty when unknown")
    timezone = serializers.CharField(help_text="IANA name; derived from the phone number when not given")
    origin = serializers.ChoiceField(choices=Origin.choices)
    custom_values = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.DictField(child=serializers.JSONField(),
                                               help_text="Values by custom-field key"))
    def get_custom_values(self, contact: Contact) -> dict:
        return contact.custom_values or {}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, contact: Contact) -> list[str]:
        return self.context.get("tag_names", {}).get(contact.pk, [])

    @extend_schema_field(ConsentSerializer)
    def get_consent(self, contact: Contact) -> dict:
        return consent_of(contact)


class ContactWriteSerializer(StrictSerializer):
    """What a partner may set on a contact. Blank or null clears a field."""

    first_name = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    last_name = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    phone = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64,
                                  help_text="Any common format; national numbers use the organisation's "
                                            "region. Stored as E.164.")
    email = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=254)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    preferred_channel = serializers.ChoiceField(choices=CHANNELS, required=False)
    language = StrictCharField(required=False, allow_blank=True, max_length=16)
    timezone = StrictCharField(required=False, allow_blank=True, max_length=64)
    custom_values = serializers.DictField(
        child=StrictCharField(allow_blank=True, allow_null=True, max_length=1000), required=False,
        help_text="Values by custom-field key (GET /custom-fields); replaces the contact's values as a "
                  "whole. Numbers and dates as text (dates YYYY-MM-DD).")


class ContactCreateSerializer(ContactWriteSerializer):
    tags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=50,
                                 required=False, help_text="Tag names; new ones are created.")


class LookupSerializer(StrictSerializer):
    """Find a contact by phone or e-mail (exactly one). Sent in the body: never in a URL."""

    phone = StrictCharField(required=False, max_length=64)
    email = StrictCharField(required=False, max_length=254)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Give either 'phone' or 'email' (one of them).")
        return attrs


class TagChangeSerializer(StrictSerializer):
    add = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=50,
                                required=False, help_text="Tag names to put on (new ones created).")
    remove = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=50,
                                   required=False, help_text="Tag names to take off the contact.")

    def validate(self, attrs):
        if not attrs.get("add") and not attrs.get("remove"):
            raise serializers.ValidationError("Give tag names to 'add' or 'remove'.")
        return attrs


class ContactTagsSerializer(serializers.Serializer):
    tags = serializers.ListField(child=StrictCharField())


class ConsentChangeSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=CHANNELS)
    opted_in = StrictBooleanField(help_text="true to record an opt-in, false an opt-out.")


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "created_at"]
        read_only_fields = fields


class CustomFieldSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(child=StrictCharField())

    class Meta:
        model = CustomField
        fields = ["id", "key", "label", "field_type", "choices"]
        read_only_fields = fields
