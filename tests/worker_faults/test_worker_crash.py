"""A worker killed mid-task loses nothing: the task is acked late and runs again elsewhere."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import cache

from tests.factories import ContactFactory

pytestmark = pytest.mark.worker


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_task_interrupted_by_a_worker_crash_runs_again_on_the_next_worker(celery_worker_factory, tenant_a):
    from tests.worker_tasks import slow_count_contacts

    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org)
        ContactFactory(organization=tenant_a.org)
    marker = f"crash-{uuid.uuid4().hex}"
    first = celery_worker_factory(include=["tests.worker_tasks"], visibility_timeout=3).start()
    slow_count_contacts.delay(org_id=tenant_a.org.pk, marker=marker, seconds=2)
    wait_for(lambda: cache.get(f"{marker}:starts"), 20, "the task to start")

    first.kill()  # mid-task: no ack was sent
    assert cache.get(f"{marker}:done") is None

    celery_worker_factory(include=["tests.worker_tasks"], visibility_timeout=3).start()
    done = wait_for(lambda: cache.get(f"{marker}:done"), 40, "the redelivered task to finish")
    assert done == 2  # ran in tenant A's scope: A's two contacts
    assert cache.get(f"{marker}:starts") >= 2
