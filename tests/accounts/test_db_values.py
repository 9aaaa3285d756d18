"""``ByPk``: one UPDATE giving each row its own value, on PostgreSQL's array form and the plain
CASE form the embedded SQLite uses (run here on PostgreSQL too)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.db_values import ByPk
from accounts.models import Organization
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)


@pytest.fixture(params=["array", "case"])
def form(request, monkeypatch):
    if request.param == "case":
        monkeypatch.delattr(ByPk, "as_postgresql")
    return request.param


def field(name: str):
    return Organization._meta.get_field(name)


def test_each_row_gets_its_own_value_of_any_type_in_one_statement(form):
    first, second, third = OrganizationFactory.create_batch(3)
    rows = Organization.objects.filter(pk__in=[first.pk, second.pk])  # the queryset still picks the rows
    with CaptureQueriesContext(connection) as queries:
        updated = rows.update(
            name=ByPk({first.pk: "O'Brien; DROP TABLE x", second.pk: "Zoë"}, field("name")),
            keys_destroyed_at=ByPk({first.pk: AT, second.pk: None}, field("keys_destroyed_at")),
            idle_timeout_minutes=ByPk({first.pk: 5, second.pk: 60}, field("idle_timeout_minutes")))
    assert updated == 2 and len(queries) == 1
    assert [(o.name, o.keys_destroyed_at, o.idle_timeout_minutes)
            for o in Organization.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")] == [
        ("O'Brien; DROP TABLE x", AT, 5), ("Zoë", None, 60)]
    third.refresh_from_db()
    assert third.name.startswith("Clinic ")  # outside the queryset: untouched
    if form == "array":  # the statement does not grow with the rows
        assert "array_position" in queries[0]["sql"] and "WHEN" not in queries[0]["sql"]


def test_a_row_the_values_do_not_name_gets_null(form):
    org, other = OrganizationFactory.create_batch(2)
    Organization.objects.filter(pk__in=[org.pk, other.pk]).update(
        keys_destroyed_at=ByPk({org.pk: AT}, field("keys_destroyed_at")))
    assert Organization.objects.get(pk=other.pk).keys_destroyed_at is None
    assert Organization.objects.get(pk=org.pk).keys_destroyed_at == AT
