"""A batch never makes the organisation's other writers wait: its chunks hold the audit-chain head
only for their last statement, and a broker outage at hand-off loses nothing."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

import audit
from accounts.actor import Actor
from audit import AuditAction
from messaging.models import Message
from messaging.services import queue_store
from messaging.services.outbound import Content, Recipient, queue_messages
from tests.messaging.backend_helpers import make_channel


def system(tenant) -> Actor:
    return Actor.system("campaign-dispatcher", organization_id=tenant.org.pk)


def numbers(count: int) -> list[str]:
    return [f"+1312{4000000 + n:07d}" for n in range(count)]


@pytest.mark.django_db(transaction=True)
def test_an_inbound_writer_appends_to_the_chain_while_a_chunk_is_being_stored(tenant_a, monkeypatch):
    """What an inbound webhook of the same organisation does mid-batch (append to its chain) goes
    through without waiting for the chunk to commit: the chunk has not locked the head yet."""
    real_insert = queue_store.insert_rows
    outcomes: list[str] = []

    def webhook_meanwhile():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '5s'")  # waiting would fail it, not hang it
                audit.record(AuditAction.MESSAGE_RECEIVED, organization=tenant_a.org, detail={"n": 1})
            outcomes.append("appended")
        except Exception as exc:  # surfaced below
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    def insert_then_let_a_webhook_in(*args, **kwargs):
        stored = real_insert(*args, **kwargs)  # the chunk's rows are written, its transaction open
        other = threading.Thread(target=webhook_meanwhile)
        other.start()
        other.join()
        return stored

    monkeypatch.setattr("messaging.services.queueing.insert_rows", insert_then_let_a_webhook_in)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        result = queue_messages(actor=system(tenant_a),
                                channel=channel, recipients=[Recipient(contact_id=None, to_phone=p)
                                                             for p in numbers(5)],
                                origin=Message.Origin.CAMPAIGN, content=Content(body="Hi"), chunk_size=5)
    assert result.queued == 5 and outcomes == ["appended"]


def test_a_broker_outage_at_hand_off_leaves_the_batch_queued_under_a_lease(tenant_a, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    from messaging import tasks

    def broker_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.dispatch_batch, "delay", broker_down)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        with django_capture_on_commit_callbacks(execute=True):
            result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                    content=Content(body="Hi"),
                                    recipients=[Recipient(contact_id=None, to_phone=p) for p in numbers(3)])
        assert result.queued == 3  # the caller is told they are queued: they are, and stay so
        messages = Message.objects.filter(channel=channel)
        assert {m.status for m in messages} == {"queued"}
        assert all(m.lease_expires_at > timezone.now() for m in messages)  # the sweep takes them after it
