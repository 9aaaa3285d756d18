"""audit.record_many: several events of one organisation under one chain-head lock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django_scopes import scopes_disabled

import audit
from accounts.actor import Actor
from accounts.models import Organization
from audit import AuditAction, AuditEntry, services
from audit.models import AuditEvent
from audit.services import UnsafeAuditDetail
from audit.verification import verify_chain


def chain_of(org) -> list[AuditEvent]:
    with scopes_disabled():
        return list(AuditEvent.objects.filter(organization=org).order_by("seq"))


@pytest.mark.parametrize("postgres_path", [True, False], ids=["postgresql", "embedded"])
def test_entries_link_into_the_chain_in_order_with_the_callers_actor(tenant_a, monkeypatch, postgres_path):
    monkeypatch.setattr(services, "fast_append", lambda connection: postgres_path)
    actor = Actor.system("campaign-dispatcher", organization_id=tenant_a.org.pk)
    before = len(chain_of(tenant_a.org))
    entries = [AuditEntry(AuditAction.MESSAGES_QUEUED, detail={"count": n}) for n in range(3)]
    events = audit.record_many(entries, organization=tenant_a.org, actor=actor)
    audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_a.org)  # the chain goes on from them
    chain = chain_of(tenant_a.org)
    assert [e.pk for e in chain[before:before + 3]] == [e.pk for e in events]
    assert [e.detail["count"] for e in chain[before:before + 3]] == [0, 1, 2]
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert {(e.actor_type, e.actor_id) for e in events} == {("system", "campaign-dispatcher")}
    assert verify_chain(f"org:{tenant_a.org.pk}").ok


def test_the_head_is_locked_once_per_call(tenant_a, django_assert_num_queries):
    entries = [AuditEntry(AuditAction.MESSAGES_QUEUED, detail={"count": n}) for n in range(20)]
    with django_assert_num_queries(2):  # lock (and read) the head; insert all and move the head
        audit.record_many(entries, organization=tenant_a.org)


def test_detail_is_checked_and_one_organisation_per_call(tenant_a, tenant_b):
    with pytest.raises(UnsafeAuditDetail):
        audit.record_many([AuditEntry(AuditAction.MESSAGES_QUEUED, detail={"body": "Hi Ana, see you"})],
                          organization=tenant_a.org)
    with pytest.raises(TypeError):
        audit.record_many([AuditEntry("messages queued")], organization=tenant_a.org)
    assert audit.record_many([], organization=tenant_a.org) == []


@pytest.mark.django_db(transaction=True)
def test_batches_racing_single_appends_never_fork_the_chain():
    org = Organization.objects.create(name="Batch Race Clinic", slug="batch-race-clinic")
    start = threading.Barrier(4)
    errors = []

    def batches():
        try:
            start.wait()
            for i in range(5):
                with transaction.atomic():
                    audit.record_many([AuditEntry(AuditAction.MESSAGES_QUEUED, detail={"n": i})] * 3,
                                      organization=org)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def singles():
        try:
            start.wait()
            for i in range(5):
                with transaction.atomic():
                    audit.record(AuditAction.MESSAGE_RECEIVED, organization=org, detail={"n": i})
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fn) for fn in (batches, batches, singles, singles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in chain_of(org)] == list(range(1, 2 * 15 + 2 * 5 + 1))
    assert verify_chain(f"org:{org.pk}").ok
