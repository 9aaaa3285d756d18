"""audit.deferred(): a block's events are appended when it ends, one head lock per chain, in the
caller's transaction; an exception discards them with it; nested blocks append with the outer."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import audit
from audit import AuditAction
from audit.models import AuditEvent
from audit.verification import verify_chain

pytestmark = pytest.mark.django_db


def events(tenant) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(organization=tenant.org).order_by("seq"))


def test_events_wait_for_the_end_of_the_block_and_share_one_head_lock(tenant_a):
    before = len(events(tenant_a))
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with audit.deferred():
            first = audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_a.org)
            audit.record_many([audit.AuditEntry(AuditAction.CONTACTS_TAGGED, detail={"count": 2})],
                              organization=tenant_a.org)
            with audit.deferred():  # nested: appended with the outer block
                audit.record(AuditAction.CONTACT_UPDATED, organization=tenant_a.org)
            assert first.pk is None and len(events(tenant_a)) == before
        assert first.pk is not None
    assert sum(q["sql"].startswith("INSERT INTO audit_chainhead") for q in queries) == 1
    stored = events(tenant_a)[before:]
    assert [e.action for e in stored] == [AuditAction.CONTACT_VIEWED, AuditAction.CONTACTS_TAGGED,
                                          AuditAction.CONTACT_UPDATED]
    assert [e.seq for e in stored] == list(range(stored[0].seq, stored[0].seq + 3))
    assert verify_chain(f"org:{tenant_a.org.pk}").ok


def test_an_exception_in_the_block_discards_its_events(tenant_a):
    before = len(events(tenant_a))
    with pytest.raises(RuntimeError), transaction.atomic(), audit.deferred():
        audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_a.org)
        raise RuntimeError("the write failed")
    assert len(events(tenant_a)) == before
    # Outside a block, appends happen at once again.
    with transaction.atomic():
        event = audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_a.org)
        assert event.pk is not None


def test_two_organisations_chains_are_locked_in_one_order(tenant_a, tenant_b):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, audit.deferred():
        audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_b.org)
        audit.record(AuditAction.CONTACT_VIEWED, organization=tenant_a.org)
    heads = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO audit_chainhead")]
    keys = sorted([f"org:{tenant_a.org.pk}", f"org:{tenant_b.org.pk}"])
    assert len(heads) == 2 and keys[0] in heads[0] and keys[1] in heads[1]
