"""The Celery app. With no REDIS_URL, tasks run eagerly in-process (the embedded default)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("carerelay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Webhook deliveries (their own queue, "webhooks") and partner-API upkeep.
app.autodiscover_tasks(["accounts.event_webhooks", "accounts.partner_api"])
