"""The Celery app. With no REDIS_URL, tasks run eagerly in-process (the embedded default)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("carerelay")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after every task unless
# this is set: each task then paid a new PostgreSQL backend (connect, authenticate, a cold
# catalog cache that made the first queries' planning several times slower) — two per intake
# answer. Connections are kept as Django keeps them in requests instead (below).
app.conf.CELERY_DB_REUSE_MAX = 1_000_000_000
app.autodiscover_tasks()
# A worker whose broker consumer went deaf after a reconnect exits for its supervisor to restart.
app.steps["worker"].add("config.worker_watchdog:ConsumerWatchdog")
# Webhook deliveries (their own queue, "webhooks") and partner-API upkeep.
app.autodiscover_tasks(["accounts.event_webhooks", "accounts.partner_api"])


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(sender=None, **kwargs) -> None:
    """What Django does around each request: close connections older than CONN_MAX_AGE or left
    unusable by an error (CONN_HEALTH_CHECKS tests the survivors before reuse). Not for eager
    tasks, which run inside the caller's connection and transaction."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
