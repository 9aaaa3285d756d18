"""Send slots and leases: a message waiting for its slot is scheduled once and is not stalled;
one whose lease expired (its task was lost, its worker died) is handed over again."""

from __future__ import annotations

import itertools
from datetime import timedelta

import time_machine
from django.utils import timezone

from messaging.models import Message
from messaging.ratelimit import get_rate_limiter
from messaging.services.dispatch import deliver_message, schedule_batch
from messaging.tasks import requeue_stalled_messages
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import queued, sends


def another(like: Message, body: str = "Campaign message") -> Message:
    """One more queued campaign message to the same patient on the same channel."""
    return Message.objects.create(
        organization_id=like.organization_id, conversation=like.conversation, channel=like.channel,
        contact=like.contact, direction="outbound", origin="campaign", body=body, status="queued",
        remote_address=like.remote_address, remote_address_index=like.remote_address_index)


def test_a_message_waiting_two_hours_for_its_slot_is_not_stalled_but_one_whose_lease_expired_is(
        tenant_a, twilio):
    now = timezone.now()
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
        waiting = queued(tenant_a.org, channel, body="Campaign, paced")
        lost = another(waiting, body="Task lost")
        two_hours_ago = now - timedelta(hours=2)
        Message.objects.filter(pk=waiting.pk).update(
            created_at=two_hours_ago, dispatch_slot_at=now + timedelta(minutes=30),
            lease_expires_at=now + timedelta(minutes=40))
        Message.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=1),
                                                  lease_expires_at=now - timedelta(seconds=1))
        assert requeue_stalled_messages() == 1
        lost.refresh_from_db()
        waiting.refresh_from_db()
        assert lost.status == "sent" and waiting.status == "queued"
        assert len(sends(twilio)) == 1


def test_a_send_whose_worker_died_is_requeued_once_its_lease_expires_and_resent(tenant_a, settings):
    from tests.fakes import FakeTelnyx

    with FakeTelnyx() as fake, tenant_a.scope():
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        message = queued(tenant_a.org, make_channel(tenant_a.org, "telnyx"))
        claimed = timezone.now() + timedelta(seconds=settings.MESSAGING_SEND_LEASE_SECONDS)
        Message.objects.filter(pk=message.pk).update(status="sending", attempts=1, lease_expires_at=claimed)
        assert requeue_stalled_messages() == 0  # its worker may still be talking to the provider
        with time_machine.travel(claimed + timedelta(seconds=1)):
            assert requeue_stalled_messages() == 1
        message.refresh_from_db()
        assert message.status == "sent" and message.lease_expires_at is None
        assert sends(fake)[0].headers["idempotency-key"].startswith("carerelay-")


def test_a_requeued_message_is_not_requeued_again_at_every_sweep(tenant_a, monkeypatch):
    from messaging import tasks

    handed = []
    monkeypatch.setattr(tasks.dispatch_message, "delay", lambda **kw: handed.append(kw))  # the broker lost it
    with tenant_a.scope():
        message = queued(tenant_a.org, make_channel(tenant_a.org))
        Message.objects.filter(pk=message.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert requeue_stalled_messages() == 1
        assert requeue_stalled_messages() == 0  # the requeued task holds a fresh hand-off lease
        assert handed == [{"org_id": tenant_a.org.pk, "message_id": message.pk}]


def test_schedule_batch_reserves_consecutive_slots_once_and_stores_them_with_leases(tenant_a, settings,
                                                                                     monkeypatch):
    from messaging.ratelimit import LocalRateLimiter
    from messaging.services import dispatch

    limiter = LocalRateLimiter(clock=lambda: 1_800_000_000.0)  # a stopped clock: exact arithmetic
    monkeypatch.setattr(dispatch, "get_rate_limiter", lambda: limiter)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, rate_limit_per_second=10)
        messages = [queued(tenant_a.org, channel, body="n0")]
        messages += [another(messages[0], body=f"m{n}") for n in range(4)]
        ids = [m.pk for m in messages]
        first = schedule_batch(channel, ids).slots
        assert [pk for pk, _ in first] == ids
        stored = list(Message.objects.filter(pk__in=ids).order_by("pk"))
        gaps = {(b.dispatch_slot_at - a.dispatch_slot_at) for a, b in itertools.pairwise(stored)}
        assert gaps == {timedelta(milliseconds=100)}  # 10 a second, back to back
        lease = timedelta(seconds=settings.MESSAGING_SEND_LEASE_SECONDS)
        assert all(m.lease_expires_at == m.dispatch_slot_at + lease for m in stored)
        again = schedule_batch(channel, ids)  # a re-delivered batch task keeps the slots
        assert [m.dispatch_slot_at for m in Message.objects.filter(pk__in=ids).order_by("pk")] == [
            m.dispatch_slot_at for m in stored]
        assert len(again.slots) == 5
        assert limiter.reserve(channel.pk, 10).wait == 0.5  # five slots were taken, in one reservation


def test_a_task_that_runs_before_its_slot_waits_for_it_without_taking_another(tenant_a, twilio):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio", rate_limit_per_second=1)
        message = queued(tenant_a.org, channel)
        start = timezone.now()
        slot = start + timedelta(seconds=30)
        Message.objects.filter(pk=message.pk).update(dispatch_slot_at=slot)
        with time_machine.travel(start, tick=False):
            result = deliver_message(message.pk)
        assert result.outcome == "rate_limited" and result.retry_in == 30.0
        assert get_rate_limiter().reserve(channel.pk, 1).wait == 0  # nothing reserved by that run
        with time_machine.travel(slot):
            assert deliver_message(message.pk).outcome == "sent"
        assert len(sends(twilio)) == 1


def test_dispatch_batch_schedules_each_message_once_for_its_slot_within_the_horizon(tenant_a, settings,
                                                                                   monkeypatch):
    from messaging import tasks

    settings.MESSAGING_SCHEDULE_HORIZON_SECONDS = 2
    scheduled, runs, batches = [], [], []
    monkeypatch.setattr(tasks.dispatch_message, "apply_async",
                        lambda kwargs, countdown=None: scheduled.append((kwargs["message_id"], countdown)))
    monkeypatch.setattr(tasks.send_batch, "apply_async",
                        lambda kwargs, countdown=None: runs.append((kwargs["message_ids"], countdown)))
    monkeypatch.setattr(tasks.dispatch_batch, "apply_async",
                        lambda kwargs, countdown=None: batches.append((kwargs["message_ids"], countdown)))
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, rate_limit_per_second=1)
        first = queued(tenant_a.org, channel)
        others = [another(first) for _ in range(4)]
        ids = [first.pk, *(m.pk for m in others)]
    # Called directly, the task runs as in a worker (not eagerly): slots 0-4 s ahead at 1/s, horizon 2 s.
    assert tasks.dispatch_batch(org_id=tenant_a.org.pk, channel_id=channel.pk, message_ids=ids) == 3
    # Slots 0 and 1 s fall within a second of each other: one run, scheduled for the first; 2 s alone.
    assert [(m, round(c or 0)) for m, c in runs] == [(ids[:2], 0)]
    assert [(pk, round(c or 0)) for pk, c in scheduled] == [(ids[2], 2)]
    assert len(batches) == 1 and batches[0][0] == ids[3:]  # the rest: one later visit, not a poll each
    assert 1 <= batches[0][1] <= 2.1


def test_send_runs_cut_at_the_size_and_at_a_second_from_their_first_slot():
    from messaging.tasks import send_runs

    slots = [(1, 0.0), (2, 0.4), (3, 0.9), (4, 1.2), (5, 1.3), (6, 5.0)]
    assert [[m for m, _ in run] for run in send_runs(slots, 100)] == [[1, 2, 3], [4, 5], [6]]
    assert [[m for m, _ in run] for run in send_runs(slots, 2)] == [[1, 2], [3, 4], [5], [6]]

