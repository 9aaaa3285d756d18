"""Partner-API requests bypass the browser middleware (accounts/partner_api/middleware.py) and keep
what still matters for them: the security headers, the audit request context, the key's scope."""

from __future__ import annotations

from audit import AuditAction
from audit.models import AuditEvent
from tests.api.conftest import client_with
from tests.factories import ContactFactory


def test_an_api_answer_keeps_the_security_headers_and_sets_no_browser_state(tenant_a, key_a):
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org, first_name="Ada")
    response = client_with(key_a).get("/api/v1/contacts")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store" and response["X-Content-Type-Options"] == "nosniff"
    assert "Permissions-Policy" in response
    # No session, CSRF or flash-message cookies; no page policies on JSON.
    assert not response.cookies
    assert "Content-Security-Policy" not in response and "X-Frame-Options" not in response
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    with tenant_a.scope():
        event = AuditEvent.objects.filter(action=AuditAction.CONTACTS_LIST_VIEWED).latest("seq")
    assert event.request_id == request_id and event.ip == "127.0.0.1"
    assert event.actor_type == "api_key"


def test_a_browser_session_sent_along_is_never_read(tenant_a, tenant_b, key_a):
    """Org B's signed-in owner calling with org A's key sees org A (the key decides); the same
    session without a key is not a partner: 401, as for anyone without a key."""
    with tenant_a.scope():
        ours = ContactFactory(organization=tenant_a.org, first_name="Ada")
    with tenant_b.scope():
        ContactFactory(organization=tenant_b.org, first_name="Bea")
    client = client_with(key_a)
    client.force_login(tenant_b.owner)
    response = client.get("/api/v1/contacts")
    assert [row["id"] for row in response.json()["results"]] == [ours.pk]
    assert not response.cookies  # the session was neither refreshed nor saved

    client.credentials()  # the session cookie alone
    refused = client.get("/api/v1/contacts")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"


def test_other_api_paths_take_the_whole_stack(client, db):
    assert client.get("/api/v1/no-such-endpoint").status_code == 404
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "Content-Security-Policy" in docs
