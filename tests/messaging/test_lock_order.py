"""Every writer takes the organisation-wide locks in one order — its own rows (conversation,
usage counter) first, the audit chain's head last — or two writers deadlock. An inbound webhook
from a new sender used to append CONTACT_CREATED (locking the chain) before metering, while a
webhook from a known sender metered and then waited for the chain: both stalled for a second and
one answered 500. The statements each path sends are read back in order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.services import create_contact
from messaging.services.inbound import receive_inbound
from tests.factories import system_actor
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_inbound import inbound

pytestmark = pytest.mark.django_db

HEAD = "INSERT INTO audit_chainhead"  # the head is locked by this upsert
OWN_ROWS = ("billing_usagecounter", "UPDATE messaging_conversation", "INSERT INTO \"messaging_conversation\"",
            "INSERT INTO \"contacts_contact\"", "UPDATE \"contacts_contact\"")


def statements(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [q["sql"] for q in queries]


def assert_chain_locked_last(sql: list[str]) -> None:
    heads = [n for n, s in enumerate(sql) if HEAD in s]
    own = [n for n, s in enumerate(sql) if any(mark in s for mark in OWN_ROWS)]
    assert heads, "no audit event was appended"
    assert own, "the path took none of its own row locks: the test reads the wrong statements"
    assert len(heads) == 1, "the chain head was locked more than once"
    assert max(own) < heads[0], [sql[n][:60] for n in own if n > heads[0]]


def test_a_new_senders_first_message_locks_the_chain_last(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        sql = statements(lambda: receive_inbound(channel, inbound("Hello", "sim-new", sender="+14155550123")))
    assert any('INSERT INTO "contacts_contact"' in s for s in sql)  # the sender became a contact
    assert_chain_locked_last(sql)


def test_a_stop_from_a_known_patient_locks_the_chain_last(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone="+14155550124")
        receive_inbound(channel, inbound("Hi", "sim-1", sender="+14155550124"))
        sql = statements(lambda: receive_inbound(channel, inbound("STOP", "sim-2", sender="+14155550124")))
    assert_chain_locked_last(sql)


def test_a_deadlock_is_retried_instead_of_answered_with_500(tenant_a, monkeypatch):
    from django.db import OperationalError

    from messaging.services import inbound as inbound_service

    class Deadlock(Exception):
        sqlstate = "40P01"

    real, calls = inbound_service._receive, []

    def first_one_deadlocks(*args):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return real(*args)

    monkeypatch.setattr(inbound_service, "_receive", first_one_deadlocks)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        message = receive_inbound(channel, inbound("Hello", "sim-3", sender="+14155550125"))
    assert message is not None and message.pk and len(calls) == 2
