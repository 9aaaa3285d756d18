"""kombu's Redis transport, keeping one redis-py client per channel instead of one per command.

kombu's Redis channel builds a new ``redis.Redis`` for every publish (``conn_or_acquire`` with no
client), and redis-py's constructor copies its response-callback table each time: two fifths of
handing a task to Celery, a sixth of an API reply's CPU. The client is a thin handle on the
channel's connection pool (a connection is taken from the pool per command, so one client serves
every thread), so the channel keeps one, and makes a new one when its pool is replaced.
Everything else is kombu's. ``CELERY_BROKER_TRANSPORT`` names this class (config/settings.py).
"""

from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis


class Channel(redis.Channel):
    _kept_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        kept = self._kept_client
        if kept is None or kept.connection_pool is not self.pool:
            kept = self._kept_client = self._create_client()
        yield kept


class Transport(redis.Transport):
    Channel = Channel
