from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        # Registers contact.opted_out for partner webhooks.
        import contacts.partner_events  # noqa: F401
