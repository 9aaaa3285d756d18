"""Tags have services with audit events, and the admin saves and deletes tags, custom fields and
contacts through the services (validated and audited like the web UI)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from accounts.validators import InvalidValue
from audit import AuditAction
from audit.models import AuditEvent
from contacts import custom_fields, tags
from contacts.models import Contact, ContactTag, CustomField, Tag
from contacts.services import create_contact
from tests.factories import system_actor


def events(tenant) -> list[tuple[AuditAction, dict]]:
    with scopes_disabled():  # test inspection of the audit log
        return [(AuditAction(a), d) for a, d in AuditEvent.objects.filter(organization=tenant.org)
                .order_by("seq").values_list("action", "detail")]


def _member_actor(tenant, role):
    from accounts.actor import actor_for

    return actor_for(tenant.member(role), tenant.org)


def test_tag_life_is_audited_with_ids_and_counts_only(tenant_a):
    with tenant_a.scope():
        staff, admin = _member_actor(tenant_a, "staff"), _member_actor(tenant_a, "admin")
        contact = create_contact(actor=staff, organization=tenant_a.org, phone="+14155550142")
        tag = tags.create_tag(actor=staff, name="diabetes-program")
        tag_id = tag.pk
        assert tags.tag_contacts(actor=staff, contact_ids=[contact.pk], tag_name="diabetes-program") == 1
        assert tags.tag_contacts(actor=staff, contact_ids=[contact.pk], tag_name="diabetes-program") == 0
        tags.rename_tag(actor=staff, tag=tag, name="dm-program")
        assert tags.untag_contacts(actor=staff, contact_ids=[contact.pk], tag_name="dm-program") == 1
        tags.tag_contacts(actor=staff, contact_ids=[contact.pk], tag_name="dm-program")
        assert tags.delete_tag(actor=admin, tag=tag) == 1
        assert not Tag.objects.exists() and not ContactTag.objects.exists()
    assert [a for a, _ in events(tenant_a)] == [
        AuditAction.CONTACT_CREATED, AuditAction.TAG_CREATED, AuditAction.CONTACTS_TAGGED,
        AuditAction.TAG_RENAMED, AuditAction.CONTACTS_TAGGED, AuditAction.CONTACTS_TAGGED,
        AuditAction.TAG_DELETED]
    details = [d for _, d in events(tenant_a)]
    assert details[2] == {"tag_id": tag_id, "removed": False, "contacts": 1}
    assert details[4] == {"tag_id": tag_id, "removed": True, "contacts": 1}
    assert details[6] == {"contacts": 1}


def test_tag_names_are_checked(tenant_a):
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        tags.create_tag(actor=actor, name="vip")
        with pytest.raises(InvalidValue, match="exists already"):
            tags.create_tag(actor=actor, name="vip")
        with pytest.raises(InvalidValue, match="longer than 50"):
            tags.create_tag(actor=actor, name="x" * 51)
        with pytest.raises(InvalidValue, match="Type a tag name"):
            tags.tag_contacts(actor=actor, contact_ids=[], tag_name="  ")


def test_staff_may_not_delete_a_tag(tenant_a):
    from django.core.exceptions import PermissionDenied

    with tenant_a.scope():
        tag = tags.create_tag(actor=system_actor(tenant_a.org), name="vip")
        with pytest.raises(PermissionDenied):
            tags.delete_tag(actor=_member_actor(tenant_a, "staff"), tag=tag)


def test_tag_admin_adds_renames_and_deletes_through_the_services(tenant_a):
    client = tenant_a.client_for("admin")
    assert client.post(reverse("admin:contacts_tag_add"), {"name": "flu-2026"}).status_code == 302
    with tenant_a.scope():
        tag = Tag.objects.get()
    response = client.post(reverse("admin:contacts_tag_change", args=[tag.pk]), {"name": "flu-2027"})
    assert response.status_code == 302
    client.post(reverse("admin:contacts_tag_delete", args=[tag.pk]), {"post": "yes"})
    with tenant_a.scope():
        assert not Tag.objects.exists()
    assert [a for a, _ in events(tenant_a)] == [AuditAction.TAG_CREATED, AuditAction.TAG_RENAMED,
                                                AuditAction.TAG_DELETED]
    with scopes_disabled():
        assert set(AuditEvent.objects.filter(organization=tenant_a.org).values_list("actor_id",
                                                                                    flat=True)) == \
            {str(tenant_a.admin.pk)}


def test_custom_field_admin_changes_and_deletes_through_the_services(tenant_a):
    with tenant_a.scope():
        field = custom_fields.define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                                  label="Insurer", field_type="text")
    client = tenant_a.client_for("admin")
    response = client.post(reverse("admin:contacts_customfield_change", args=[field.pk]),
                           {"label": "Payer", "field_type": "text", "choices": "[]"})
    assert response.status_code == 302, response.content[:500]
    client.post(reverse("admin:contacts_customfield_delete", args=[field.pk]), {"post": "yes"})
    with tenant_a.scope():
        assert not CustomField.objects.exists()
    assert [(a, d.get("change"), d.get("fields")) for a, d in events(tenant_a)] == [
        (AuditAction.CUSTOM_FIELD_CHANGED, "created", None),
        (AuditAction.CUSTOM_FIELD_CHANGED, "updated", ["label"]),
        (AuditAction.CUSTOM_FIELD_CHANGED, "deleted", None)]


def test_contact_admin_refuses_a_future_birth_date_on_the_field(tenant_a):
    response = tenant_a.client_for("admin").post(reverse("admin:contacts_contact_add"), {
        "phone": "+14155550142", "preferred_channel": "sms", "date_of_birth": "2999-01-01"})
    assert response.status_code == 200
    assert "in the future" in str(response.context["adminform"].form.errors["date_of_birth"])
    with tenant_a.scope():
        assert not Contact.objects.exists()


def test_contact_admin_adds_through_the_service(tenant_a):
    response = tenant_a.client_for("admin").post(reverse("admin:contacts_contact_add"), {
        "first_name": "Ada", "phone": "(415) 555-0199", "preferred_channel": "sms"})
    assert response.status_code == 302
    with tenant_a.scope():
        assert Contact.objects.get().phone == "+14155550199"  # normalised by the service
    assert [a for a, _ in events(tenant_a)] == [AuditAction.CONTACT_CREATED]
