"""Conversations and their messages over the API: read through messaging's selectors, one
audit event per page with the key as actor, another organisation's ids answering 404."""

from __future__ import annotations

import pytest

from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import Message
from tests.api.conftest import client_with, make_key
from tests.messaging.tenancy_rows import conversation as make_conversation

pytestmark = pytest.mark.django_db


def _events(tenant, action):
    with tenant.scope():
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("seq"))


def _thread(tenant, bodies=("hello", "can I move Friday?")):
    with tenant.scope():
        conv = make_conversation(tenant.org)
        for body in bodies:
            Message.objects.create(organization=tenant.org, conversation=conv, channel=conv.channel,
                                   contact=conv.contact, direction="inbound", origin="patient", body=body,
                                   status="received")
    return conv


def test_conversations_list_with_one_audit_event_per_page(tenant_a, key_a):
    conv = _thread(tenant_a)
    response = client_with(key_a).get("/api/v1/conversations?status=open")
    assert response.status_code == 200
    assert [(r["id"], r["contact"], r["status"]) for r in response.json()["results"]] == [
        (conv.pk, conv.contact_id, "open")]
    listed = _events(tenant_a, AuditAction.CONVERSATIONS_LISTED)
    assert [(e.actor_type, e.actor_id, e.detail) for e in listed] == [
        ("api_key", key_a.split(".")[0], {"rows": 1, "filters": ["status"]})]
    assert client_with(key_a).get("/api/v1/conversations?status=closed").json()["results"] == []


def test_a_conversation_is_audited_as_viewed(tenant_a, key_a):
    conv = _thread(tenant_a)
    assert client_with(key_a).get(f"/api/v1/conversations/{conv.pk}").json()["channel"] == conv.channel_id
    viewed = _events(tenant_a, AuditAction.CONVERSATION_VIEWED)[-1]
    assert (viewed.actor_type, viewed.target_id) == ("api_key", str(conv.pk))


def test_messages_list_decrypted_newest_first_one_event_per_page(tenant_a, key_a):
    conv = _thread(tenant_a, bodies=("first", "second", "third"))
    response = client_with(key_a).get(f"/api/v1/conversations/{conv.pk}/messages?page_size=2")
    assert [m["body"] for m in response.json()["results"]] == ["third", "second"]
    following = client_with(key_a).get(response.json()["next"])
    assert [m["body"] for m in following.json()["results"]] == ["first"]
    listed = _events(tenant_a, AuditAction.MESSAGES_LISTED)
    assert [(e.target_id, e.detail) for e in listed] == [(str(conv.pk), {"rows": 2}),
                                                         (str(conv.pk), {"rows": 1})]
    assert all(e.actor_type == "api_key" for e in listed)


def test_a_key_without_messages_read_cannot_list_conversations(tenant_a):
    conv = _thread(tenant_a)
    client = client_with(make_key(tenant_a, ["contacts:read"]))
    assert client.get("/api/v1/conversations").status_code == 403
    assert client.get(f"/api/v1/conversations/{conv.pk}/messages").status_code == 403


def test_another_organisations_conversation_is_404(tenant_a, tenant_b, api_b):
    conv = _thread(tenant_a)
    assert api_b.get(f"/api/v1/conversations/{conv.pk}/messages").status_code == 404
    assert api_b.get("/api/v1/conversations").json()["results"] == []
    assert api_b.get("/api/v1/conversations/not-a-number").json()["error"]["code"] == "not_found"
