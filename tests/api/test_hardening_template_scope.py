"""A WhatsApp template id in a send's body is scoped to the key's organisation: organisation B's
key naming organisation A's template answers exactly like a missing id, and nothing is sent."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from messaging.models import Message
from tests.api.conftest import client_with, make_key, whatsapp_thread

pytestmark = pytest.mark.django_db


def test_another_organisations_template_id_is_a_404_like_a_missing_one_and_sends_nothing(
        tenant_a, tenant_b, django_capture_on_commit_callbacks):
    _, template_a = whatsapp_thread(tenant_a, "+14085550101")
    thread_b, template_b = whatsapp_thread(tenant_b, "+14085550102")
    api_b = client_with(make_key(tenant_b, ["messages:write"]))
    path = f"/api/v1/conversations/{thread_b.pk}/template"
    with django_capture_on_commit_callbacks(execute=True):
        other = api_b.post(path, {"template": template_a.pk, "parameters": ["Ada"]}, format="json")
        missing = api_b.post(path, {"template": 2**31 - 1, "parameters": ["Ada"]}, format="json")
    assert other.status_code == missing.status_code == 404, other.content
    assert other.json() == missing.json()
    error = other.json()["error"]
    assert set(error) == {"code", "message", "field", "details"} and error["code"] == "not_found"
    assert "results_ready" not in other.content.decode()  # nothing of A's template shows
    with scopes_disabled():
        assert not Message.objects.filter(direction="outbound").exists()
    # The same body with B's own template does send: the 404 was the scope, not a broken request.
    with django_capture_on_commit_callbacks(execute=True):
        own = api_b.post(path, {"template": template_b.pk, "parameters": ["Ada"]}, format="json")
    assert own.status_code == 201, own.content
    with scopes_disabled():
        sent = Message.objects.filter(direction="outbound")
        assert list(sent.values_list("organization_id", flat=True)) == [tenant_b.org.pk]
