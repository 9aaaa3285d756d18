"""Contacts in the admin: scoped to the organisation; opening one is an audited PHI read."""

from django.db import transaction

import audit
from accounts.admin_site import OrgScopedAdmin, admin_site
from audit import AuditAction
from contacts import custom_fields, selectors, services
from contacts.models import Contact, CustomField, Tag


class ContactAdmin(OrgScopedAdmin):
    list_display = ("__str__", "origin", "preferred_channel", "sms_opted_in", "created_at", "updated_at")
    list_filter = ("origin", "preferred_channel", "sms_opted_in", "whatsapp_opted_in")
    fields = ("first_name", "last_name", "phone", "email", "date_of_birth", "preferred_channel", "language",
              "timezone")
    search_fields = ()  # encrypted columns cannot be searched in SQL; the web UI uses blind indexes

    def get_object(self, request, object_id, from_field=None):
        # Through the selector, so the admin change page records CONTACT_VIEWED like the web UI.
        return selectors.get_contact(contact_id=object_id, actor=request.user)

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data.get(f) for f in self.fields}
        if change:
            services.update_contact(contact=obj, actor=request.user, **values)
        else:
            created = services.create_contact(organization=request.organization, actor=request.user,
                                              **values)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.delete_contact(contact=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for contact in queryset:
            services.delete_contact(contact=contact, actor=request.user)


class TagAdmin(OrgScopedAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    fields = ("name",)


class CustomFieldAdmin(OrgScopedAdmin):
    list_display = ("label", "key", "field_type", "created_at")
    fields = ("label", "key", "field_type", "choices")

    def get_readonly_fields(self, request, obj=None):
        # The key is what imports and stored values refer to: fixed once created.
        return ("key",) if obj else ()

    def save_model(self, request, obj, form, change):
        if not change:
            created = custom_fields.define_custom_field(
                organization=request.organization, label=obj.label, field_type=obj.field_type,
                choices=obj.choices, key=obj.key or None, actor=request.user)
            obj.pk = created.pk
            return
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=obj, actor=request.user,
                         detail={"change": "updated", "key": obj.key, "fields": sorted(form.changed_data)})

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(AuditAction.CUSTOM_FIELD_CHANGED, target=obj, actor=request.user,
                         detail={"change": "deleted", "key": obj.key})
            super().delete_model(request, obj)


admin_site.register(Contact, ContactAdmin)
admin_site.register(Tag, TagAdmin)
admin_site.register(CustomField, CustomFieldAdmin)
