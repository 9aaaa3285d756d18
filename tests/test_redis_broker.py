"""The broker's Redis channel keeps one client (kombu's builds one per publish) and still delivers."""

from __future__ import annotations

import uuid

import redis
from django.conf import settings
from kombu import Queue

from config import redis_broker
from config.celery import app


def test_the_channel_keeps_one_client_and_publishes_through_it():
    name = f"cr-broker-test-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, redis_broker.Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        producer = connection.Producer()
        for n in range(3):
            producer.publish({"n": n}, routing_key=name, declare=[Queue(name)], serializer="json")
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert client.llen(name) == 3
    finally:
        client.delete(name, f"_kombu.binding.{name}")


def test_a_new_pool_gets_a_new_client():
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as before:
            pass
        channel._pool = None  # what kombu does when it replaces the channel's pool
        with channel.conn_or_acquire() as after:
            assert after is not before and after.connection_pool is channel.pool
