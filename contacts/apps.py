from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        # Registers contact.opted_out for partner webhooks.
        import contacts.partner_events  # noqa: F401

        # billing sits below contacts: it counts contacts against the plan through this counter.
        from billing.usage_counts import CONTACTS, register_counter
        from contacts.models import Contact

        def count_contacts(organization_id: int) -> int:
            from django_scopes import scopes_disabled

            with scopes_disabled():  # an explicit organisation filter; billing asks for one org by id
                return Contact.objects.filter(organization_id=organization_id).count()

        register_counter(CONTACTS, count_contacts)
