from django.apps import AppConfig


class ContactsPeerConfig(AppConfig):
    """Bench-only app: the plain (unencrypted) model django-import-export imports into."""

    name = "bench.contacts_peer"
    label = "contacts_peer"
