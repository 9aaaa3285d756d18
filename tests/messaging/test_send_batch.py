"""A run of queued messages sent by one task (``send_batch`` / ``deliver_messages``): the same
exactly-once protocol as one message, its database work batched."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.services import set_consent
from messaging import tasks
from messaging.models import Message
from messaging.services import dispatch, send_cap
from messaging.services.dispatch import _MESSAGE_LOCK_SPACE, deliver_message, deliver_messages
from tests.factories import system_actor
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import queued, sends
from tests.messaging.test_dispatch_reconcile import Crash
from tests.messaging.test_dispatch_slots import another


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.MESSAGING_RETRY_BASE_SECONDS = 0.01
    settings.MESSAGING_RETRY_MAX_SECONDS = 0.05


def run_of(tenant, n: int):
    channel = make_channel(tenant.org, "twilio")
    first = queued(tenant.org, channel)
    return channel, [first, *(another(first, body=f"Campaign message {i}") for i in range(n - 1))]


def test_a_run_is_sent_once_each_with_every_provider_id_stored(tenant_a, twilio):
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 6)
        assert tasks.send_batch(org_id=tenant_a.org.pk, channel_id=channel.pk,
                                message_ids=[m.pk for m in messages]) == 6
        stored = list(Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk"))
    assert {m.status for m in stored} == {"sent"} and all(m.attempts == 1 for m in stored)
    assert len({m.provider_message_id for m in stored}) == 6 and all(m.sent_at for m in stored)
    assert len(sends(twilio)) == 6
    # A re-delivered task finds nothing left to send.
    with tenant_a.scope():
        assert tasks.send_batch(org_id=tenant_a.org.pk, channel_id=channel.pk,
                                message_ids=[m.pk for m in messages]) == 0
    assert len(sends(twilio)) == 6


def test_its_statements_do_not_grow_with_the_run(tenant_a, tenant_b, twilio):
    counts = []
    for tenant, size in ((tenant_a, 3), (tenant_b, 12)):
        with tenant.scope():
            channel, messages = run_of(tenant, size)
            with CaptureQueriesContext(connection) as queries:
                outcome = deliver_messages(channel, [m.pk for m in messages])
        assert outcome.outcomes == {"busy": 0, "skipped": 0, "sent": size}
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 6  # lock, load, claim, store, unlock


def test_a_message_another_worker_holds_is_left_to_it(tenant_a, twilio):
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 3)
        held_elsewhere = messages[1]
        other = psycopg.connect(_dsn(), autocommit=True)
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [_MESSAGE_LOCK_SPACE + held_elsewhere.pk])
            outcome = deliver_messages(channel, [m.pk for m in messages])
        finally:
            other.close()
        held_elsewhere.refresh_from_db()
    assert outcome.outcomes["busy"] == 1 and outcome.outcomes["sent"] == 2
    assert held_elsewhere.status == "queued" and len(sends(twilio)) == 2


def _dsn() -> str:
    db = connection.settings_dict
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_a_patient_who_opted_out_meanwhile_gets_nothing_of_the_run(tenant_a, twilio):
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 3)
        contact = messages[0].contact
        set_consent(actor=system_actor(tenant_a.org), contact=contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
        outcome = deliver_messages(channel, [m.pk for m in messages])
        statuses = set(Message.objects.filter(pk__in=[m.pk for m in messages])
                       .values_list("status", flat=True))
    assert outcome.outcomes["failed"] == 3 and statuses == {"failed"} and sends(twilio) == []


def test_a_busy_provider_hands_that_message_to_its_own_retry_and_sends_the_rest(tenant_a, twilio,
                                                                                 monkeypatch):
    scheduled = []
    monkeypatch.setattr(tasks.dispatch_message, "apply_async",
                        lambda kwargs, countdown=None: scheduled.append(kwargs["message_id"]))
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 4)
        twilio.fail_next(1, status=500, retry_after=0)
        assert tasks.send_batch(org_id=tenant_a.org.pk, channel_id=channel.pk,
                                message_ids=[m.pk for m in messages]) == 3
        retried = Message.objects.get(pk=scheduled[0])
    assert len(scheduled) == 1 and retried.status == "queued" and retried.attempts == 1
    with tenant_a.scope():
        assert deliver_message(retried.pk).outcome == "sent"
        assert Message.objects.filter(status="sent").count() == 4


def test_a_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(tenant_a, twilio, monkeypatch):
    """Killed after the provider accepted three messages, before any id was stored: the
    sweep's single deliveries find those three at the provider and send only the rest."""
    real_send = dispatch.backend_for

    class Dying:
        def __init__(self, backend):
            self.backend, self.sent = backend, 0

        def send(self, config, message):
            if self.sent == 3:
                raise Crash
            self.sent += 1
            return self.backend.send(config, message)

    monkeypatch.setattr(dispatch, "backend_for", lambda channel: Dying(real_send(channel)))
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 5)
        with pytest.raises(Crash):
            deliver_messages(channel, [m.pk for m in messages])
        assert set(Message.objects.values_list("status", flat=True)) == {"sending"}
        monkeypatch.setattr(dispatch, "backend_for", real_send)
        for message in messages:  # what requeue_stalled_messages does once the leases pass
            assert deliver_message(message.pk).outcome == "sent"
        stored = list(Message.objects.order_by("pk"))
    assert {m.status for m in stored} == {"sent"} and len({m.provider_message_id for m in stored}) == 5
    assert len(sends(twilio)) == 5  # three before the kill, two after: none twice


@pytest.mark.parametrize(("rate", "most_calls"), [(1000, 4), (50, 12)])
def test_a_fast_channel_counts_its_run_against_the_send_cap_in_a_few_calls(tenant_a, twilio, monkeypatch,
                                                                          rate, most_calls):
    # Each clock reading is 1 ms after the last, so a send takes a few ms: a 1,000/s channel
    # counts the sends it can make within ADMIT_AHEAD_SECONDS per limiter call (the first
    # alone, to measure); a 50/s channel counts one send per call, as before.
    clock = iter(range(10**9))
    monkeypatch.setattr(send_cap, "time", type("Clock", (), {
        "monotonic": staticmethod(lambda: next(clock) / 1000), "sleep": staticmethod(lambda s: None)}))
    limiter, calls = send_cap.get_rate_limiter(), []
    real_admit_many = limiter.admit_many
    monkeypatch.setattr(limiter, "admit_many", lambda *args: calls.append(args[2]) or real_admit_many(*args))
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 12)
        channel.rate_limit_per_second = rate
        channel.save(update_fields=["rate_limit_per_second"])
        limiter.reset(channel.pk)
        assert deliver_messages(channel, [m.pk for m in messages]).outcomes["sent"] == 12
    assert len(sends(twilio)) == 12 and sum(calls) >= 12
    assert len(calls) <= most_calls and (rate > 50 or calls == [1] * 12)


def test_a_run_reads_the_patients_consent_but_not_their_details(tenant_a, twilio):
    with tenant_a.scope():
        channel, messages = run_of(tenant_a, 3)
        with CaptureQueriesContext(connection) as queries:
            assert deliver_messages(channel, [m.pk for m in messages]).outcomes["sent"] == 3
    loads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "contacts_contact" in q["sql"]]
    assert len(loads) == 1 and '"contacts_contact"."sms_opted_in"' in loads[0]
    for detail in ("first_name", "last_name", "phone", "email", "date_of_birth", "custom_values"):
        assert f'"contacts_contact"."{detail}"' not in loads[0]  # nothing of theirs is decrypted
    assert "messaging_channel" not in " ".join(q["sql"] for q in queries)  # the run's channel is known
