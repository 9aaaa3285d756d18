"""Celery tasks take org_id and run inside that organisation's scope (the task door)."""

from __future__ import annotations

import pytest
from celery import shared_task
from django_scopes import ScopeError

from accounts.tenancy import OrgTask
from contacts.models import Contact
from tests.factories import ContactFactory


@shared_task(base=OrgTask, bind=True, name="tests.count_contacts")
def count_contacts(self, *, org_id: int) -> int:
    return Contact.objects.count()


def test_an_org_task_sees_only_its_organisations_rows(tenant_a, tenant_b):
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org)
        ContactFactory(organization=tenant_a.org)
    with tenant_b.scope():
        ContactFactory(organization=tenant_b.org)
    assert count_contacts.delay(org_id=tenant_a.org.pk).get() == 2
    assert count_contacts.delay(org_id=tenant_b.org.pk).get() == 1


def test_an_org_task_without_org_id_is_refused(db):
    with pytest.raises(TypeError, match="org_id"):
        count_contacts.apply(kwargs={}).get()


def test_outside_a_task_scope_the_query_raises(db):
    with pytest.raises(ScopeError):
        Contact.objects.count()


def test_org_tasks_are_acked_late():
    assert count_contacts.acks_late is True
    assert count_contacts.reject_on_worker_lost is True
