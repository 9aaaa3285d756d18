"""Contacts in the admin: scoped to the organisation; reads through selectors (opening a contact
is an audited PHI read), saves and deletes through services with the request's actor."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.admin_site import OrgScopedAdmin, admin_site
from contacts import custom_fields, selectors, services, tags
from contacts.models import Contact, CustomField, Tag


def _actor(request):
    if request.actor is None:  # a superuser without a membership in the active organisation
        raise PermissionDenied("Open the admin from an organisation you are a member of.")
    return request.actor


class ContactAdminForm(forms.ModelForm):
    """Runs the contact normaliser and the duplicate-phone check, so refusals show on the field."""

    class Meta:
        model = Contact
        fields = ("first_name", "last_name", "phone", "email", "date_of_birth",
                  "preferred_channel", "language", "timezone")

    def clean(self):
        cleaned = super().clean()
        request = self.request
        try:
            services.check_contact(actor=_actor(request), organization=request.organization,
                                   values={f: cleaned.get(f) for f in self.Meta.fields if f in cleaned},
                                   contact=self.instance if self.instance.pk else None)
        except services.InvalidContact as exc:
            raise ValidationError({f: m for f, m in exc.errors.items() if f in self.fields}
                                  or str(exc)) from None
        return cleaned


class ContactAdmin(OrgScopedAdmin):
    form = ContactAdminForm
    list_display = ("__str__", "origin", "preferred_channel", "sms_opted_in", "created_at", "updated_at")
    list_filter = ("origin", "preferred_channel", "sms_opted_in", "whatsapp_opted_in")
    fields = ContactAdminForm.Meta.fields
    search_fields = ()  # encrypted columns cannot be searched in SQL; the web UI uses blind indexes

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def get_object(self, request, object_id, from_field=None):
        # Through the selector, so the admin change page records CONTACT_VIEWED like the web UI.
        return selectors.get_contact(actor=_actor(request), contact_id=object_id)

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data.get(f) for f in self.fields}
        if change:
            services.update_contact(actor=_actor(request), contact=obj, **values)
        else:
            created = services.create_contact(actor=_actor(request), organization=request.organization,
                                              **values)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.delete_contact(actor=_actor(request), contact=obj)


class TagAdmin(OrgScopedAdmin):
    list_display = ("name", "created_at")
    # No search box: the admin's search is a GET form, and what people type into search boxes
    # (names, phone numbers) must never reach a URL (tests/test_no_phi_in_urls.py).
    search_fields = ()
    fields = ("name",)

    def save_model(self, request, obj, form, change):
        if change:
            tags.rename_tag(actor=_actor(request), tag=obj, name=obj.name)
        else:
            obj.pk = tags.create_tag(actor=_actor(request), name=obj.name).pk

    def delete_model(self, request, obj):
        tags.delete_tag(actor=_actor(request), tag=obj)


class CustomFieldAdmin(OrgScopedAdmin):
    list_display = ("label", "key", "field_type", "created_at")
    fields = ("label", "key", "field_type", "choices")

    def get_readonly_fields(self, request, obj=None):
        # The key is what imports and stored values refer to: fixed once created.
        return ("key",) if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            custom_fields.update_custom_field(actor=_actor(request), field=obj, label=obj.label,
                                              field_type=obj.field_type, choices=obj.choices)
            return
        created = custom_fields.define_custom_field(
            actor=_actor(request), organization=request.organization, label=obj.label,
            field_type=obj.field_type, choices=obj.choices, key=obj.key or None)
        obj.pk = created.pk

    def delete_model(self, request, obj):
        custom_fields.delete_custom_field(actor=_actor(request), field=obj)


admin_site.register(Contact, ContactAdmin)
admin_site.register(Tag, TagAdmin)
admin_site.register(CustomField, CustomFieldAdmin)
