"""messaging/outbound_gates.py: a higher app's hold or withdrawal of its queued message at send
time, honoured by the single-message task (scheduled again, or left to its lease) without a
provider call."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from messaging import outbound_gates
from messaging.models import Message
from messaging.outbound_gates import Hold, Notify, Withdraw
from messaging.tasks import dispatch_message
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import queued, sends

pytestmark = pytest.mark.django_db


@pytest.fixture
def gate(monkeypatch):
    """A gate on staff replies answering ``verdict`` (set by the test)."""
    answer: dict = {}
    monkeypatch.setitem(outbound_gates._gates, "staff",
                        lambda messages: {m.pk: answer["verdict"] for m in messages})
    return answer


def test_a_short_hold_schedules_the_task_again_for_then_without_calling_the_provider(
        tenant_a, twilio, gate, monkeypatch):
    scheduled = []
    monkeypatch.setattr(dispatch_message, "apply_async", lambda **options: scheduled.append(options))
    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        gate["verdict"] = Hold(timezone.now() + datetime.timedelta(seconds=30))
        assert dispatch_message(org_id=tenant_a.org.pk, message_id=message.pk) == "held"
        assert [options["countdown"] for options in scheduled] == [pytest.approx(30, abs=1)]
        message.refresh_from_db()
        assert (message.status, message.attempts, message.dispatch_slot_at) == ("queued", 0, None)
        assert message.lease_expires_at > timezone.now() + datetime.timedelta(seconds=30)
    assert sends(twilio) == []


def test_a_hold_past_the_horizon_is_left_to_the_lease_and_a_withdrawal_fails_the_message(
        tenant_a, twilio, gate, monkeypatch, settings):
    scheduled = []
    monkeypatch.setattr(dispatch_message, "apply_async", lambda **options: scheduled.append(options))
    until = timezone.now() + datetime.timedelta(seconds=settings.MESSAGING_SCHEDULE_HORIZON_SECONDS + 60)
    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org, "twilio"))
        gate["verdict"] = Hold(until)
        assert dispatch_message(org_id=tenant_a.org.pk, message_id=message.pk) == "held"
        assert scheduled == []  # no ETA task held past the broker's visibility timeout
        message.refresh_from_db()
        assert (message.status, message.lease_expires_at) == ("queued", until)
        gate["verdict"] = Withdraw("not_wanted", "The sender withdrew it.")
        assert dispatch_message(org_id=tenant_a.org.pk, message_id=message.pk) == "failed"
        message.refresh_from_db()
        assert (message.status, message.error_code, message.error_message) == (
            "failed", "not_wanted", "The sender withdrew it.")
    assert sends(twilio) == []


def test_only_messages_marked_notify_reach_after_sent_once_they_went_out(tenant_a, twilio, monkeypatch):
    heard: list[list[int]] = []
    answer: dict = {}
    monkeypatch.setitem(outbound_gates._gates, "staff", lambda messages: {
        m.pk: answer[m.pk] for m in messages if m.pk in answer})
    monkeypatch.setitem(outbound_gates._after_sent, "staff", lambda messages: heard.append(
        [m.pk for m in messages]))
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
        marked = queued(tenant_a.org, channel)
        unmarked, held = (Message.objects.create(
            organization=tenant_a.org, conversation=marked.conversation, channel=channel,
            contact=marked.contact, direction="outbound", origin="staff", body=f"Note {n}", status="queued",
            remote_address=marked.remote_address, remote_address_index=marked.remote_address_index)
            for n in range(2))
        answer.update({marked.pk: Notify(), held.pk: Hold(timezone.now() + datetime.timedelta(hours=2))})
        for message in (marked, unmarked, held):
            dispatch_message(org_id=tenant_a.org.pk, message_id=message.pk)
        assert heard == [[marked.pk]]  # sent and marked; the unmarked one went unheard, the held one not yet
    assert len(sends(twilio)) == 2
