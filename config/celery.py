"""The Celery app. With no REDIS_URL, tasks run eagerly in-process (the embedded default)."""

import os
from collections.abc import Mapping

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


_PREFIX = "CELERY_"


class _CelerySettings(Mapping):
    """Django's ``CELERY_*`` settings, read once, as Celery's configuration source, under Celery's
    own names (``CELERY_TASK_SERIALIZER`` is ``task_serializer``).

    Celery asks for several keys no settings module sets (``task_send_sent_event``,
    ``broker_pool_acquire_timeout`` …) on every task it sends; read through Django's settings
    object, each miss raised and caught an AttributeError — a quarter of a publish's CPU, which
    every API reply and queued message pays. A setting changed after the first task (say with
    ``override_settings``) does not reach Celery: set ``app.conf`` instead, as the tests do.
    """

    def __init__(self):
        self._values: dict | None = None

    def _load(self) -> dict:
        if self._values is None:
            from django.conf import settings

            names = [name for name in dir(settings) if name.startswith(_PREFIX)]
            self._values = {name.removeprefix(_PREFIX).lower(): getattr(settings, name) for name in names}
        return self._values

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


app = Celery("carerelay")
app.config_from_object(_CelerySettings())
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
