"""Webhook URLs, mounted at ``webhooks/`` by config/urls.py."""

from django.urls import path

from messaging.webhooks import provider_webhook

app_name = "webhooks"

urlpatterns = [
    path("<slug:provider>/<uuid:webhook_id>/", provider_webhook, name="provider"),
]
