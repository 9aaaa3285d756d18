"""The inbound webhook's contact lookup is hand-written SQL: it must keep the scoped manager's rules."""

from __future__ import annotations

import pytest
from django_scopes import ScopeError, scope, scopes_disabled

from accounts import blind_index
from contacts.selectors import contact_by_phone_index
from contacts.services import create_contact
from tests.factories import system_actor

PHONE = "+14155560177"


@pytest.fixture
def contact(tenant_a):
    with tenant_a.scope():
        return create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                              first_name="Grace", phone=PHONE)


def lookup(tenant):
    return contact_by_phone_index(actor=system_actor(tenant.org), organization=tenant.org,
                                  phone_index=blind_index.phone_index(tenant.org.pk, PHONE))


def test_finds_the_contact_narrow_and_loads_the_rest_on_access(tenant_a, contact):
    with tenant_a.scope():
        found = lookup(tenant_a)
        assert found.pk == contact.pk and found.organization_id == tenant_a.org.pk
        assert found.get_deferred_fields() >= {"first_name", "phone"}  # nothing decrypted up front
        assert (found.sms_opted_in, found.first_name, found.phone) == (None, "Grace", PHONE)


def test_an_unknown_phone_is_none(tenant_a, contact):
    with tenant_a.scope():
        other = blind_index.phone_index(tenant_a.org.pk, "+14155560178")
        assert contact_by_phone_index(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                      phone_index=other) is None


def test_fails_closed_outside_any_scope(tenant_a, contact):
    with pytest.raises(ScopeError):
        lookup(tenant_a)


def test_inside_another_organisations_scope_it_finds_nothing(tenant_a, tenant_b, contact):
    with scope(organization=tenant_b.org):
        assert lookup(tenant_a) is None
    with scopes_disabled():
        assert lookup(tenant_a).pk == contact.pk


def test_another_organisation_with_the_same_phone_is_never_returned(tenant_a, tenant_b, contact):
    with tenant_b.scope():
        theirs = create_contact(actor=system_actor(tenant_b.org), organization=tenant_b.org, phone=PHONE)
        assert lookup(tenant_b).pk == theirs.pk
    with tenant_a.scope():
        assert lookup(tenant_a).pk == contact.pk


@pytest.mark.django_db
def test_the_lookup_uses_the_unique_phone_index_even_in_a_generic_plan(tenant_a):
    """Prepared on its connection, the statement may run one plan for every phone: that plan can
    use the partial unique index only because the statement writes its condition out."""
    from django.db import connection

    from contacts.selectors import _narrow_by_phone_index_sql
    from tests.plans import generic_plan

    plan = generic_plan(_narrow_by_phone_index_sql(connection), [tenant_a.org.pk, "ix"])
    assert "contact_unique_phone" in plan, plan
