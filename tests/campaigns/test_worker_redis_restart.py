"""Redis restarted mid-campaign (a real restart of a Redis server of the test's own, which keeps
nothing: queued Celery tasks, the limiter's state and caches are gone) — the campaign resumes
through the sweeps and every patient gets exactly one message.

The server is private so the restart cannot disturb anything else using the suite's Redis.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import Counter
from contextlib import contextmanager

import pytest
import redis
from django_scopes import scope

from config.celery import app
from messaging.models import Message
from tests.campaigns.test_worker_dispatch import (  # noqa: F401 (fixtures)
    INCLUDE,
    Beat,
    campaign_of,
    per_number,
    start,
    state_of,
    template_maker,
    twilio,
)
from tests.worker_faults.test_worker_crash import wait_for

pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, on a free loopback port, keeping nothing on disk."""

    def __init__(self, tmp_path):
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 10, "the private Redis to start")
        return self

    def _answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        """What a crashed and restarted Redis looks like to its clients: every connection dropped,
        every key (the broker's queues, unacked tasks, the limiter) gone."""
        self.stop()
        time.sleep(0.5)
        self.start()


@contextmanager
def broker_at(url: str):
    """Point this process's Celery producer at ``url``, and give back the very pools it had.

    Nothing is closed: kombu keeps producer pools in a process-wide registry by broker URL, so
    closing the suite's own connection pool here broke every later test's ``delay()`` ("Acquire
    on closed pool"). The private broker's pools are left to die with its server."""
    saved = (app.conf.broker_url, app._pool, app.amqp._producer_pool)
    app._pool = app.amqp._producer_pool = None
    app.conf.broker_url = url
    try:
        yield
    finally:
        app.conf.broker_url, app._pool, app.amqp._producer_pool = saved


class Supervised:
    """The worker as docker-compose.yml runs it (``restart: unless-stopped``): kombu may give up on
    a broker connection lost at the wrong moment ("Unrecoverable error") and the worker exits, or
    come back deaf to its queues and the worker's watchdog shuts it down
    (config/worker_watchdog.py); its supervisor starts it again. The campaign must survive
    every way."""

    def __init__(self, factory):
        self.factory = factory
        self.restarts = 0
        self.worker = factory(include=INCLUDE, visibility_timeout=8).start()

    def alive(self) -> bool:
        if self.worker.proc.poll() is not None:
            self.worker.stop()
            self.worker = self.factory(include=INCLUDE, visibility_timeout=8).start()
            self.restarts += 1
        return True

    def history(self) -> str:
        """What the worker said last: the failure message of a campaign that did not resume."""
        return f"{self.restarts} restart(s); the worker's log ends:\n{self.worker.log_tail()}"


@pytest.fixture
def private_redis(tmp_path, settings, monkeypatch):
    server = PrivateRedis(tmp_path).start()
    settings.REDIS_URL = server.url  # the workers' broker and limiter, and this process's limiter
    # Hand-offs lost with the broker are swept after this (the worker sets the lease).
    monkeypatch.setenv("MESSAGING_HANDOFF_LEASE_SECONDS", "10")
    with broker_at(server.url):
        yield server
    server.stop()


def test_a_redis_restart_mid_campaign_resumes_it_and_sends_each_patient_once(
        celery_worker_factory, tenant_a, twilio, template_maker, private_redis):  # noqa: F811
    channel, _contacts, campaign, admin = campaign_of(tenant_a, 400, rate=100, make_template=template_maker)
    worker = Supervised(celery_worker_factory)
    with Beat():
        start(tenant_a, campaign, admin)
        wait_for(lambda: len(twilio.created_sids) >= 100, 180, "the first sends")
        private_redis.restart()
        restarted_at = len(twilio.created_sids)
        assert restarted_at < 400, "the campaign finished before the restart: make it longer"
        try:
            wait_for(lambda: worker.alive() and state_of(tenant_a, campaign) == "completed", 300,
                     "the campaign to resume")
        except AssertionError as stalled:
            raise AssertionError(f"{stalled}; {worker.history()}") from None
    sent = per_number(twilio)
    assert len(sent) == 400 and set(sent.values()) == {1}, Counter(sent.values())
    with scope(organization=tenant_a.org):
        messages = Message.objects.filter(channel=channel, origin="campaign")
        assert messages.count() == 400 and not messages.exclude(status="sent").exists()
