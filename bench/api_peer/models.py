"""A plain contact with the API's columns, unencrypted, for the peer benchmark (bench/api.py).

Never migrated: bench/api.py creates its table with schema_editor at run time. It carries the
organisation id as a plain integer, so the same base viewset's organisation filter applies.
"""

from django.db import models


# Nullable text columns on purpose: the same NULL-able shape as contacts.Contact's encrypted ones.
class PlainApiContact(models.Model):
    organization_id = models.IntegerField(db_index=True)
    first_name = models.CharField(  # noqa: DJ001
        max_length=100, blank=True, null=True)
    last_name = models.CharField(  # noqa: DJ001
        max_length=100, blank=True, null=True)
    phone = models.CharField(  # noqa: DJ001
        max_length=32, blank=True, null=True)
    email = models.CharField(  # noqa: DJ001
        max_length=254, blank=True, null=True)
    date_of_birth = models.DateField(blank=True, null=True)
    custom_values = models.JSONField(blank=True, null=True)
    preferred_channel = models.CharField(max_length=16, default="sms")
    language = models.CharField(max_length=16, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    origin = models.CharField(max_length=16, default="api")
    sms_opted_in = models.BooleanField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=32, blank=True, default="")
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    whatsapp_opted_in = models.BooleanField(null=True, blank=True)
    whatsapp_consent_source = models.CharField(max_length=32, blank=True, default="")
    whatsapp_consent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "api_peer"

    def __str__(self) -> str:
        return f"PlainApiContact #{self.pk}"
