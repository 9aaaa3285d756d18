from django.apps import AppConfig


class ApiPeerConfig(AppConfig):
    """Bench-only app: the plain (unencrypted, unaudited) contacts table the API list is compared to."""

    name = "bench.api_peer"
    label = "api_peer"
