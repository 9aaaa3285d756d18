"""A real Celery worker sends queued messages; killed mid-send, the message still goes out once.

Guarantee under test (messaging.services.dispatch): a worker killed inside the provider call
leaves the message "sending"; the re-delivered task reconciles it with the provider first —
for Telnyx the same POST with the same idempotency key, which answers the original — so it
is delivered once. Twilio and WhatsApp Cloud: tests/messaging/test_dispatch_reconcile.py.
"""

from __future__ import annotations

import time

import pytest

from messaging.models import Message
from tests.fakes import FakeTelnyx
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import queued
from tests.worker_faults.test_worker_crash import wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def telnyx(monkeypatch, settings):
    with FakeTelnyx() as fake:
        monkeypatch.setenv("TELNYX_API_BASE_URL", fake.api_base_url)  # read by the worker process
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        yield fake


def status_of(tenant, message_id: int) -> str:
    with tenant.scope():
        return Message.objects.get(pk=message_id).status


def test_a_worker_sends_a_queued_message(celery_worker_factory, tenant_a, telnyx):
    from messaging.tasks import dispatch_message

    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, "telnyx"))
    celery_worker_factory(include=["messaging.tasks"]).start()
    dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk)
    wait_for(lambda: status_of(tenant_a, message.pk) == "sent", 30, "the message to be sent")
    assert len(telnyx.requests) == 1


def test_a_worker_killed_mid_send_leaves_the_message_sent_once(celery_worker_factory, tenant_a, telnyx):
    from messaging.tasks import dispatch_message

    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, "telnyx"))
    telnyx.delay_seconds = 5  # the provider call is in flight when the worker dies
    first = celery_worker_factory(include=["messaging.tasks"], visibility_timeout=3).start()
    dispatch_message.delay(org_id=tenant_a.org.pk, message_id=message.pk)
    wait_for(lambda: telnyx.requests, 30, "the provider call to start")
    first.kill()
    assert status_of(tenant_a, message.pk) == "sending"  # in doubt: maybe sent, maybe not

    telnyx.delay_seconds = 0
    celery_worker_factory(include=["messaging.tasks"], visibility_timeout=3).start()
    wait_for(lambda: status_of(tenant_a, message.pk) == "sent", 60, "the re-delivered task to finish")
    time.sleep(1)
    keys = [r.headers.get("idempotency-key") for r in telnyx.requests]
    assert len(keys) == 2 and len(set(keys)) == 1 and keys[0]  # Telnyx dedupes the resend on this key
    with tenant_a.scope():
        sent = Message.objects.get(pk=message.pk)
        assert sent.attempts == 2 and sent.provider_message_id
        assert Message.objects.filter(direction="outbound").count() == 1
