"""Canned responses and WhatsApp templates: created, changed and deleted only through their
services — from the web page and from the Django admin alike — validated and audited (field
names and ids in the audit detail, never the texts)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import CannedResponse, Channel, WhatsAppTemplate
from messaging.services import canned, templates

pytestmark = pytest.mark.django_db


def events(tenant, *actions) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(action__in=actions).order_by("seq"))


def whatsapp_channel(tenant, name="WhatsApp") -> Channel:
    with tenant.scope():
        return Channel.objects.create(organization=tenant.org, name=name, provider="simulator",
                                      kind="whatsapp", address="+15005550009", webhook_secret="s")


@pytest.fixture
def admin_actor(tenant_a):
    return actor_for(tenant_a.admin, tenant_a.org)


# --- canned responses: services -------------------------------------------------------------------
def test_canned_response_life_cycle_is_audited_without_its_text(tenant_a, admin_actor):
    with tenant_a.scope():
        row = canned.create_canned_response(actor=admin_actor, title="Hours", body="We open at 8am.")
        row_id = row.pk
        canned.update_canned_response(actor=admin_actor, canned=row, title="Hours", body="We open at 9am.")
        canned.update_canned_response(actor=admin_actor, canned=row, title="Hours", body="We open at 9am.")
        assert CannedResponse.objects.get(pk=row.pk).body == "We open at 9am."
        canned.delete_canned_response(actor=admin_actor, canned=row)
        assert not CannedResponse.objects.filter(pk=row.pk).exists()
    recorded = events(tenant_a, AuditAction.CANNED_RESPONSE_CREATED, AuditAction.CANNED_RESPONSE_UPDATED,
                      AuditAction.CANNED_RESPONSE_DELETED)
    # The unchanged second update records nothing.
    assert [(e.action, e.detail) for e in recorded] == [
        (AuditAction.CANNED_RESPONSE_CREATED, {"fields": ["title", "body"]}),
        (AuditAction.CANNED_RESPONSE_UPDATED, {"fields": ["body"]}),
        (AuditAction.CANNED_RESPONSE_DELETED, {"canned_response_id": row_id}),
    ]
    assert all(e.actor_id == str(tenant_a.admin.pk) for e in recorded)
    assert "8am" not in json.dumps([e.detail for e in recorded])


def test_a_canned_response_needs_a_title_and_a_text(tenant_a, admin_actor):
    with tenant_a.scope(), pytest.raises(ValidationError, match="title and a text"):
        canned.create_canned_response(actor=admin_actor, title="  ", body="x")
    assert events(tenant_a, AuditAction.CANNED_RESPONSE_CREATED) == []


def test_the_canned_responses_page_writes_through_the_service(tenant_a):
    client = tenant_a.client_for("admin")
    client.post(reverse("messaging:canned_responses"), {"title": "Parking", "body": "Free at the back."})
    with tenant_a.scope():
        row = CannedResponse.objects.get(title="Parking")
    client.post(reverse("messaging:canned_response_edit", args=[row.pk]),
                {"title": "Parking", "body": "Paid"})
    client.post(reverse("messaging:canned_response_delete", args=[row.pk]))
    life_cycle = [AuditAction.CANNED_RESPONSE_CREATED, AuditAction.CANNED_RESPONSE_UPDATED,
                  AuditAction.CANNED_RESPONSE_DELETED]
    assert [e.action for e in events(tenant_a, *life_cycle)] == life_cycle


# --- WhatsApp templates: services -----------------------------------------------------------------
def test_template_life_cycle_is_audited_without_its_preview(tenant_a, admin_actor):
    channel = whatsapp_channel(tenant_a)
    with tenant_a.scope():
        template = templates.create_whatsapp_template(actor=admin_actor, channel=channel, name="reminder",
                                                      preview="Hi {{1}}, secret words", parameter_count=1)
        templates.update_whatsapp_template(actor=admin_actor, template=template, is_active=False)
        assert templates.active_templates(actor=admin_actor, channel=channel) == []
        templates.delete_whatsapp_template(actor=admin_actor, template=template)
        assert not WhatsAppTemplate.objects.exists()
    recorded = events(tenant_a, AuditAction.WHATSAPP_TEMPLATE_CREATED, AuditAction.WHATSAPP_TEMPLATE_UPDATED,
                      AuditAction.WHATSAPP_TEMPLATE_DELETED)
    assert [e.action for e in recorded] == [AuditAction.WHATSAPP_TEMPLATE_CREATED,
                                            AuditAction.WHATSAPP_TEMPLATE_UPDATED,
                                            AuditAction.WHATSAPP_TEMPLATE_DELETED]
    assert recorded[1].detail == {"channel_id": channel.pk, "fields": ["is_active"]}
    assert "secret" not in json.dumps([e.detail for e in recorded])


def test_a_template_belongs_to_a_whatsapp_channel_and_is_unique(tenant_a, admin_actor):
    sms = whatsapp_channel(tenant_a)
    with tenant_a.scope():
        Channel.objects.filter(pk=sms.pk).update(kind="sms")
        sms.refresh_from_db()
        with pytest.raises(ValidationError, match="WhatsApp channel"):
            templates.create_whatsapp_template(actor=admin_actor, channel=sms, name="x")
    channel = whatsapp_channel(tenant_a, name="WA")
    with tenant_a.scope():
        templates.create_whatsapp_template(actor=admin_actor, channel=channel, name="x")
        with pytest.raises(ValidationError, match="already has a template"):
            templates.create_whatsapp_template(actor=admin_actor, channel=channel, name="x")
        with pytest.raises(ValidationError, match="up to 10"):
            templates.create_whatsapp_template(actor=admin_actor, channel=channel, name="y",
                                               parameter_count=11)
        assert WhatsAppTemplate.objects.count() == 1


def test_a_template_cannot_move_to_another_organisations_channel(tenant_a, tenant_b, admin_actor):
    ours, theirs = whatsapp_channel(tenant_a), whatsapp_channel(tenant_b)
    with tenant_a.scope():
        template = templates.create_whatsapp_template(actor=admin_actor, channel=ours, name="x")
        with pytest.raises(Exception, match="another organisation"):
            templates.update_whatsapp_template(actor=admin_actor, template=template, channel=theirs)
        assert WhatsAppTemplate.objects.get(pk=template.pk).channel_id == ours.pk


# --- the Django admin routes through the services ---------------------------------------------
def test_admin_add_change_delete_of_a_canned_response_is_audited(tenant_a):
    client = tenant_a.client_for("admin")
    response = client.post(reverse("admin:messaging_cannedresponse_add"),
                           {"title": "Hours", "body": "8am"})
    assert response.status_code == 302
    with tenant_a.scope():
        row = CannedResponse.objects.get(title="Hours")
    assert row.organization_id == tenant_a.org.pk
    client.post(reverse("admin:messaging_cannedresponse_change", args=[row.pk]),
                {"title": "Opening hours", "body": "8am"})
    client.post(reverse("admin:messaging_cannedresponse_delete", args=[row.pk]), {"post": "yes"})
    with tenant_a.scope():
        assert not CannedResponse.objects.filter(pk=row.pk).exists()
    recorded = events(tenant_a, AuditAction.CANNED_RESPONSE_CREATED, AuditAction.CANNED_RESPONSE_UPDATED,
                      AuditAction.CANNED_RESPONSE_DELETED)
    assert [(e.action, e.actor_id) for e in recorded] == [
        (AuditAction.CANNED_RESPONSE_CREATED, str(tenant_a.admin.pk)),
        (AuditAction.CANNED_RESPONSE_UPDATED, str(tenant_a.admin.pk)),
        (AuditAction.CANNED_RESPONSE_DELETED, str(tenant_a.admin.pk)),
    ]
    assert recorded[1].detail == {"fields": ["title"]}


def test_admin_bulk_delete_of_canned_responses_goes_through_the_service(tenant_a, admin_actor):
    with tenant_a.scope():
        rows = [canned.create_canned_response(actor=admin_actor, title=t, body="b") for t in ("A", "B")]
    client = tenant_a.client_for("admin")
    client.post(reverse("admin:messaging_cannedresponse_changelist"),
                {"action": "delete_selected", "_selected_action": [r.pk for r in rows], "post": "yes"})
    assert len(events(tenant_a, AuditAction.CANNED_RESPONSE_DELETED)) == 2


def test_admin_add_change_delete_of_a_template_is_audited(tenant_a):
    channel = whatsapp_channel(tenant_a)
    client = tenant_a.client_for("admin")
    form = {"channel": channel.pk, "name": "reminder", "language": "en_US", "preview": "Hi {{1}}",
            "parameter_count": 1, "is_active": "on"}
    assert client.post(reverse("admin:messaging_whatsapptemplate_add"), form).status_code == 302
    with tenant_a.scope():
        template = WhatsAppTemplate.objects.get(name="reminder")
    client.post(reverse("admin:messaging_whatsapptemplate_change", args=[template.pk]),
                {**form, "parameter_count": 2})
    with tenant_a.scope():
        assert WhatsAppTemplate.objects.get(pk=template.pk).parameter_count == 2
    client.post(reverse("admin:messaging_whatsapptemplate_delete", args=[template.pk]), {"post": "yes"})
    recorded = events(tenant_a, AuditAction.WHATSAPP_TEMPLATE_CREATED, AuditAction.WHATSAPP_TEMPLATE_UPDATED,
                      AuditAction.WHATSAPP_TEMPLATE_DELETED)
    assert [e.action for e in recorded] == [AuditAction.WHATSAPP_TEMPLATE_CREATED,
                                            AuditAction.WHATSAPP_TEMPLATE_UPDATED,
                                            AuditAction.WHATSAPP_TEMPLATE_DELETED]
    assert recorded[1].detail == {"channel_id": channel.pk, "fields": ["parameter_count"]}


def test_admin_explains_a_template_with_too_many_parameters(tenant_a):
    channel = whatsapp_channel(tenant_a)
    response = tenant_a.client_for("admin").post(reverse("admin:messaging_whatsapptemplate_add"), {
        "channel": channel.pk, "name": "big", "language": "en_US", "preview": "", "parameter_count": 12})
    assert response.status_code == 200
    assert "up to 10 parameters" in response.content.decode()
    with tenant_a.scope():
        assert not WhatsAppTemplate.objects.exists()
