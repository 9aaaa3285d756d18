"""The audit log is append-only and tamper-evident, and it never takes PHI."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django_scopes import scopes_disabled

import audit
from accounts.models import Organization
from audit import AuditAction, services
from audit.models import AuditEvent
from audit.services import UnsafeAuditDetail


def record_n(org, n, action=AuditAction.CONTACT_VIEWED):
    return [audit.record(action, organization=org, detail={"n": i}) for i in range(n)]


def raw(sql, params=()):
    """Tamper with the log as an attacker with database access would: trigger disabled."""
    with connection.cursor() as cursor:
        # Deferred foreign-key checks count as pending trigger events; ALTER TABLE needs none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def verify(org=None):
    args = ["verify_audit_log"] + ([f"--org={org.pk}"] if org else [])
    call_command(*args)


def test_events_chain_per_organisation_in_sequence(tenant_a, tenant_b):
    a_events = record_n(tenant_a.org, 3)
    b_events = record_n(tenant_b.org, 2)
    assert [e.seq for e in a_events][-3:] == [a_events[0].seq, a_events[0].seq + 1, a_events[0].seq + 2]
    assert a_events[1].prev_hash == a_events[0].hash
    assert b_events[1].prev_hash == b_events[0].hash
    assert a_events[0].chain_key != b_events[0].chain_key
    verify()


def test_actions_must_be_typed_not_free_strings(tenant_a):
    with pytest.raises(TypeError):
        audit.record("contact viewed", organization=tenant_a.org)


@pytest.mark.parametrize("value", ["Marie Curie", "+14155550142", "marie@example.org", "x" * 80])
def test_detail_refuses_free_text_that_could_be_phi(tenant_a, value):
    with pytest.raises(UnsafeAuditDetail):
        audit.record(AuditAction.CONTACT_UPDATED, organization=tenant_a.org, detail={"note": value})


def test_detail_accepts_counts_flags_and_field_names(tenant_a):
    event = audit.record(AuditAction.CONTACTS_IMPORTED, organization=tenant_a.org,
                         detail={"created": 10, "failed": 0, "fields": ["first_name", "phone"], "dry": False})
    assert event.detail["fields"] == ["first_name", "phone"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET action = 101",
    "DELETE FROM audit_auditevent",
])
def test_postgresql_refuses_update_and_delete(tenant_a, statement):
    record_n(tenant_a.org, 1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)


def test_verify_exits_zero_on_an_intact_log(tenant_a, capsys):
    record_n(tenant_a.org, 4)
    verify(tenant_a.org)
    assert "intact" in capsys.readouterr().out


def test_verify_names_an_altered_event(tenant_a, capsys):
    events = record_n(tenant_a.org, 4)
    raw("UPDATE audit_auditevent SET detail = '{\"n\": 99}' WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError):
        verify(tenant_a.org)
    err = capsys.readouterr().err
    assert f"event id {events[2].pk}" in err and "altered" in err


def test_verify_detects_a_removed_event(tenant_a, capsys):
    events = record_n(tenant_a.org, 4)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError):
        verify(tenant_a.org)
    assert f"event id {events[2].pk}" in capsys.readouterr().err


def test_verify_detects_a_removed_tail(tenant_a, capsys):
    events = record_n(tenant_a.org, 3)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    with pytest.raises(CommandError):
        verify(tenant_a.org)
    assert "tail" in capsys.readouterr().err


def test_verify_detects_reordered_events(tenant_a, capsys):
    events = record_n(tenant_a.org, 4)
    first, second = events[1], events[2]
    # Swap the two events' positions in the chain.
    raw("UPDATE audit_auditevent SET seq = 999999 WHERE id = %s", [first.pk])
    raw("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [first.seq, second.pk])
    raw("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [second.seq, first.pk])
    with pytest.raises(CommandError):
        verify(tenant_a.org)
    assert f"event id {second.pk}" in capsys.readouterr().err


def test_one_broken_chain_does_not_hide_another_organisations_intact_chain(tenant_a, tenant_b, capsys):
    events = record_n(tenant_a.org, 2)
    record_n(tenant_b.org, 2)
    raw("UPDATE audit_auditevent SET actor_id = '999' WHERE id = %s", [events[0].pk])
    with pytest.raises(CommandError, match="1 audit chain"):
        verify()
    out = capsys.readouterr()
    assert f"org:{tenant_b.org.pk}:" in out.out and f"org:{tenant_a.org.pk}:" in out.err




def test_audit_events_are_scoped_to_their_organisation(tenant_a, tenant_b):
    record_n(tenant_a.org, 2)
    with tenant_b.scope():
        assert not AuditEvent.objects.exists()
    with tenant_a.scope():
        assert AuditEvent.objects.count() >= 2


def test_request_context_is_recorded_on_events(tenant_a):
    from audit import context

    token = context.bind(request_id="req-12345678", ip="10.1.2.3", user_agent="AuditTest/1.0",
                         actor=tenant_a.staff, organization=tenant_a.org)
    try:
        event = audit.record(AuditAction.CONTACT_VIEWED)
    finally:
        context.reset(token)
    assert (event.request_id, event.ip, event.user_agent) == ("req-12345678", "10.1.2.3", "AuditTest/1.0")
    assert (event.actor_type, event.actor_id, event.organization_id) == (
        "user", str(tenant_a.staff.pk), tenant_a.org.pk)


def test_every_response_carries_a_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-def-123456")
    assert response["X-Request-ID"] == "abc-def-123456"
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="bad id!")["X-Request-ID"]) == 32


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_to_a_new_chain_never_fork_it():
    """Writers racing on a chain that does not exist yet: one head is created, seqs stay gapless."""
    org = Organization.objects.create(name="Race Clinic", slug="race-clinic")
    start = threading.Barrier(6)
    errors = []

    def append_some():
        try:
            start.wait()
            for i in range(5):
                with transaction.atomic():
                    audit.record(AuditAction.CONTACT_VIEWED, organization=org, detail={"n": i})
        except Exception as exc:  # surfaced below: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append_some) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with scopes_disabled():
        seqs = sorted(AuditEvent.objects.filter(organization=org).values_list("seq", flat=True))
    assert seqs == list(range(1, 31))
    verify(org)


def test_the_embedded_databases_append_path_links_the_same_chain(tenant_a, monkeypatch):
    """SQLite (make run) appends through the ORM; both paths must continue one valid chain."""
    first = record_n(tenant_a.org, 2)
    monkeypatch.setattr(services, "fast_append", lambda connection: False)
    middle = record_n(tenant_a.org, 2)
    monkeypatch.undo()
    last = record_n(tenant_a.org, 1)
    events = first + middle + last
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 5))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    verify(tenant_a.org)
