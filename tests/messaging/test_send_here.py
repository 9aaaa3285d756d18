"""``sending_here()``: a worker answering a waiting patient delivers the one message it queued
right after commit (no dispatch task, no queue hop); what must wait still goes to a task."""

from __future__ import annotations

import pytest

from messaging.models import Message
from messaging.services import dispatch, queueing
from messaging.services.dispatch import DispatchResult
from messaging.services.outbound import send_system_message
from messaging.tasks import dispatch_message
from tests.factories import system_actor
from tests.messaging.backend_helpers import make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(monkeypatch):
    """A worker's view: tasks are not eager; the ones handed to the broker are recorded."""
    handed: list[dict] = []
    conf = dispatch_message.app.conf
    conf.task_always_eager = False  # (tests/conftest.py's autouse fixture makes it eager again)
    monkeypatch.setattr(dispatch_message, "delay",
                        lambda **kwargs: handed.append({**kwargs, "countdown": None}))
    monkeypatch.setattr(dispatch_message, "apply_async",
                        lambda kwargs, countdown=None, **options: handed.append({**kwargs,
                                                                                 "countdown": countdown}))
    yield handed
    conf.task_always_eager = True


def queue_one(tenant, capture) -> Message:
    with tenant.scope():
        channel = make_channel(tenant.org)
        with capture(execute=True):
            return send_system_message(channel=channel, to_phone="+14155550188", body="Question 2: your age?",
                                       origin=Message.Origin.INTAKE, actor=system_actor(tenant.org))


def status_of(tenant, message) -> str:
    with tenant.scope():
        return Message.objects.get(pk=message.pk).status


def test_inside_the_block_the_message_is_sent_by_this_worker(tenant_a, tasks,
                                                             django_capture_on_commit_callbacks):
    with queueing.sending_here():
        message = queue_one(tenant_a, django_capture_on_commit_callbacks)
    assert status_of(tenant_a, message) == "sent" and tasks == []


def test_outside_it_a_task_sends_it(tenant_a, tasks, django_capture_on_commit_callbacks):
    message = queue_one(tenant_a, django_capture_on_commit_callbacks)
    assert status_of(tenant_a, message) == "queued"
    assert tasks == [{"org_id": tenant_a.org.pk, "message_id": message.pk, "countdown": None}]


@pytest.mark.parametrize("outcome", ["rate_limited", "retry", "error"])
def test_a_send_that_must_wait_or_failed_here_goes_to_a_task(tenant_a, tasks, monkeypatch, outcome,
                                                             django_capture_on_commit_callbacks):
    def deliver(message_id):
        if outcome == "error":
            raise ConnectionError("the database went away")
        return DispatchResult(outcome, 0.4)

    monkeypatch.setattr(dispatch, "deliver_message", deliver)
    with queueing.sending_here():
        message = queue_one(tenant_a, django_capture_on_commit_callbacks)
    assert status_of(tenant_a, message) == "queued"
    assert tasks == [{"org_id": tenant_a.org.pk, "message_id": message.pk,
                      "countdown": None if outcome == "error" else 0.4}]
