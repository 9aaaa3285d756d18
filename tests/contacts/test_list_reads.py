"""Showing contacts in a list is a PHI read: one CONTACTS_LIST_VIEWED per page or search, with
counts and the kinds of filter — never the typed text or the filter values."""

from __future__ import annotations

import json

from django.urls import reverse
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from contacts.services import create_contact
from tests.factories import system_actor


def list_events(tenant) -> list[AuditEvent]:
    with scopes_disabled():  # test inspection of the audit log
        return list(AuditEvent.objects.filter(organization=tenant.org,
                                              action=AuditAction.CONTACTS_LIST_VIEWED)
                    .order_by("seq"))


def _seed(tenant, n: int):
    with tenant.scope():
        actor = system_actor(tenant.org)
        for i in range(n):
            create_contact(actor=actor, organization=tenant.org, first_name=f"Pat{i}", last_name="Garcia",
                           phone=f"+1415555{1000 + i:04d}", tags=["vip"] if i % 2 else [])


def test_each_list_page_records_one_event_with_counts(tenant_a, monkeypatch):
    from contacts import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    _seed(tenant_a, 3)
    client = tenant_a.client_for("viewer")
    client.get(reverse("contacts:list"))
    client.get(reverse("contacts:list"), {"page": 2})
    first, second = list_events(tenant_a)
    assert first.detail == {"page": 1, "rows": 2, "total": 3, "filters": [], "search": None}
    assert second.detail == {"page": 2, "rows": 1, "total": 3, "filters": [], "search": None}
    assert first.actor_id == str(tenant_a.viewer.pk)


def test_a_search_records_its_kind_and_never_the_text(tenant_a):
    _seed(tenant_a, 2)
    client = tenant_a.client_for("staff")
    tag_id = client.get(reverse("contacts:list")).context["all_tags"][0].pk
    client.post(reverse("contacts:search"), {"q": "Garcia", "tag": str(tag_id)}, follow=True)
    client.post(reverse("contacts:search"), {"q": "(415) 555-1000"}, follow=True)
    _, by_name, by_phone = list_events(tenant_a)
    assert by_name.detail == {"page": 1, "rows": 1, "total": 1, "filters": ["search", "tag"],
                              "search": "name"}
    assert by_phone.detail["search"] == "phone" and by_phone.detail["rows"] == 1
    details = [e.detail for e in list_events(tenant_a)]
    stored = json.dumps(details)
    assert "Garcia" not in stored and "555" not in stored
    # Nothing but counts and kinds: no key that could hold the tag's id (a count may equal it).
    assert all(set(d) <= {"page", "rows", "total", "filters", "search"} for d in details)


def test_opening_a_contact_is_not_a_list_read(tenant_a):
    _seed(tenant_a, 1)
    client = tenant_a.client_for("staff")
    contact = client.get(reverse("contacts:list")).context["rows"][0][0]
    client.get(reverse("contacts:detail", args=[contact.pk]))
    assert len(list_events(tenant_a)) == 1
