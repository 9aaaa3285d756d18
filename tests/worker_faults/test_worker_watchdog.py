"""A worker deaf to its queue (as Celery's Redis consumer can be after a reconnect) shuts itself
down for its supervisor to restart; a worker that is merely busy is left alone."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from config.celery import app
from config.worker_watchdog import Watchdog, queue_keys
from tests.factories import ContactFactory
from tests.worker_faults.test_worker_crash import wait_for


def test_the_watchdog_calls_a_worker_stuck_only_when_messages_wait_it_has_room_and_nothing_came():
    watchdog = Watchdog(stall_seconds=60, now=1000.0)
    assert not watchdog.stalled(now=1059.0, waiting=5, reserved=0, capacity=4)  # not long enough
    assert watchdog.stalled(now=1060.0, waiting=5, reserved=0, capacity=4)
    assert not watchdog.stalled(now=1060.0, waiting=0, reserved=0, capacity=4)  # idle: nothing to take
    assert not watchdog.stalled(now=1060.0, waiting=5, reserved=4, capacity=4)  # busy: full
    watchdog.received(now=1050.0)
    assert not watchdog.stalled(now=1100.0, waiting=5, reserved=0, capacity=4)  # heard 50 s ago


def test_every_priority_list_of_a_queue_is_counted():
    assert queue_keys("celery") == ["celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"]


@pytest.mark.worker
def test_a_worker_deaf_to_its_queue_while_tasks_wait_shuts_down(celery_worker_factory):
    worker = celery_worker_factory(include=["tests.worker_tasks"], stall_seconds=3).start()
    # Deaf on purpose: the consumer stops reading the queue, the process goes on running.
    replies = app.control.cancel_consumer(worker.queue, destination=[worker.nodename], reply=True, timeout=10)
    assert replies, "the worker did not answer the remote-control command"
    app.send_task("tests.slow_count_contacts", kwargs={"org_id": 0, "marker": "unread", "seconds": 0},
                  queue=worker.queue)

    wait_for(lambda: worker.proc.poll() is not None, 60, "the deaf worker to shut down")
    assert "its broker consumer is stuck" in worker.log_tail(200)


@pytest.mark.worker
def test_a_worker_busy_longer_than_the_stall_time_is_not_shut_down(celery_worker_factory, tenant_a):
    from tests.worker_tasks import slow_count_contacts

    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org)
    worker = celery_worker_factory(include=["tests.worker_tasks"], stall_seconds=2).start()
    first, second = f"busy-{uuid.uuid4().hex}", f"busy-{uuid.uuid4().hex}"
    # One slot, taken for 8 s by the first task while the second waits in the queue.
    slow_count_contacts.delay(org_id=tenant_a.org.pk, marker=first, seconds=8)
    slow_count_contacts.delay(org_id=tenant_a.org.pk, marker=second, seconds=0)

    wait_for(lambda: cache.get(f"{second}:done"), 60, "both tasks to finish")
    assert cache.get(f"{first}:done") == 1
    assert worker.proc.poll() is None
    assert "consumer is stuck" not in worker.log_tail(200)
