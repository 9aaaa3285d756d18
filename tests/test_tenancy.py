"""Tenancy fails closed: every model is scoped or exempt with a reason, and scoping holds.

For every tenant-scoped model: a query outside a scope raises; org B's scope never sees
org A's rows; org B's admin cannot list or open them.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import NoReverseMatch, reverse
from django_scopes import ScopeError, scope

from accounts.admin_site import admin_site
from accounts.fields import encrypted_fields
from accounts.tenancy import TENANCY_EXEMPT
from tests.tenancy import load_all

OUR_APPS = {"accounts", "audit", "contacts", "messaging", "campaigns", "billing"}


def our_models():
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]


def is_scoped(model) -> bool:
    manager = model._default_manager
    return type(manager).__name__ == "Manager" and hasattr(manager, "with_scope")


def scoped_models():
    return [m for m in our_models() if is_scoped(m)]


def test_every_model_is_scoped_or_exempt_with_a_reason():
    unclassified = [
        m._meta.label_lower for m in our_models()
        if not is_scoped(m) and m._meta.label_lower not in TENANCY_EXEMPT
    ]
    assert unclassified == [], "scope these models (ScopedManager) or exempt them with a reason"
    assert all(reason.strip() for reason in TENANCY_EXEMPT.values())


def test_no_model_holding_phi_is_exempt():
    exempt_with_phi = [
        m._meta.label_lower for m in our_models()
        if m._meta.label_lower in TENANCY_EXEMPT and encrypted_fields(m)
    ]
    assert exempt_with_phi == []


def test_every_scoped_model_is_scoped_by_organization():
    for model in scoped_models():
        assert model._meta.get_field("organization").related_model._meta.label == "accounts.Organization"


def test_every_scoped_model_has_a_row_maker():
    makers = load_all()
    missing = [m._meta.label_lower for m in scoped_models() if m._meta.label_lower not in makers]
    assert missing == [], "add a row maker in tests/<app>/tenancy_rows.py"


@pytest.fixture
def rows_of_a(tenant_a):
    makers = load_all()
    rows = {}
    with scope(organization=tenant_a.org):
        for model in scoped_models():
            rows[model] = makers[model._meta.label_lower](tenant_a.org)
    return rows


@pytest.mark.django_db
def test_a_query_outside_any_scope_raises(rows_of_a):
    for model in rows_of_a:
        with pytest.raises(ScopeError):
            list(model.objects.all())


@pytest.mark.django_db
def test_org_b_never_sees_org_a_rows_through_the_orm(rows_of_a, tenant_b):
    with scope(organization=tenant_b.org):
        for model, row in rows_of_a.items():
            assert not model.objects.filter(pk=row.pk).exists(), model._meta.label
            assert model.objects.count() == 0, model._meta.label
    with scope(organization=rows_of_a[next(iter(rows_of_a))].organization):
        for model, row in rows_of_a.items():
            assert model.objects.filter(pk=row.pk).exists(), model._meta.label


@pytest.mark.django_db
def test_org_b_admin_cannot_list_or_open_org_a_rows(rows_of_a, tenant_b):
    client = tenant_b.client_for("owner")
    for model, row in rows_of_a.items():
        if model not in admin_site._registry:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        try:
            change_url = reverse(f"admin:{info[0]}_{info[1]}_change", args=[row.pk])
            list_url = reverse(f"admin:{info[0]}_{info[1]}_changelist")
        except NoReverseMatch:
            continue
        assert client.get(change_url).status_code == 404, model._meta.label
        listing = client.get(list_url)
        assert listing.status_code == 200, model._meta.label
        assert listing.context["cl"].result_count == 0, model._meta.label
