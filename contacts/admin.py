"""Contacts in the admin: scoped to the organisation; opening one is an audited PHI read."""

from accounts.admin_site import OrgScopedAdmin, admin_site
from contacts import selectors, services
from contacts.models import Contact


class ContactAdmin(OrgScopedAdmin):
    list_display = ("__str__", "created_at", "updated_at")
    fields = ("first_name", "last_name", "phone", "email", "date_of_birth")
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


admin_site.register(Contact, ContactAdmin)
