"""Opening a contact — in the web UI or the admin — records CONTACT_VIEWED."""

from __future__ import annotations

from django.urls import reverse

from audit import AuditAction
from audit.models import AuditEvent
from tests.factories import ContactFactory


def viewed_events(tenant, contact):
    with tenant.scope():
        return list(AuditEvent.objects.filter(action=AuditAction.CONTACT_VIEWED, target_id=str(contact.pk)))


def test_the_contact_detail_page_records_a_view(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, first_name="Ada")
    response = tenant_a.client_for("staff").get(reverse("contacts:detail", args=[contact.pk]))
    assert response.status_code == 200 and b"Ada" in response.content
    [event] = viewed_events(tenant_a, contact)
    assert (event.actor_id, event.target_type) == (str(tenant_a.staff.pk), "contacts.contact")
    assert event.request_id


def test_the_admin_change_page_records_a_view(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org)
    response = tenant_a.client_for("admin").get(
        reverse("admin:contacts_contact_change", args=[contact.pk]))
    assert response.status_code == 200
    [event] = viewed_events(tenant_a, contact)
    assert event.actor_id == str(tenant_a.admin.pk)


def test_another_organisations_contact_is_not_found_and_not_audited_as_viewed(tenant_a, tenant_b):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org)
    response = tenant_b.client_for("owner").get(reverse("contacts:detail", args=[contact.pk]))
    assert response.status_code == 404
    assert viewed_events(tenant_a, contact) == []
