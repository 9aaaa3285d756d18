"""Idle sign-out, absolute lifetime, sign out everywhere, password change."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from accounts.audit_hooks import SESSION_AUTH_STARTED, SESSION_LAST_SEEN
from audit import AuditAction
from tests.accounts.conftest import events
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def _age_session(client: Client, **seconds_ago):
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[key] = now - ago
    session.save()


def test_a_session_idle_past_the_default_15_minutes_is_signed_out(tenant_a):
    client = tenant_a.client_for("staff")
    _age_session(client, **{SESSION_LAST_SEEN: 15 * 60 + 5})
    response = client.get("/contacts/", follow=True)
    assert response.redirect_chain[0][0].startswith("/login/?next=/contacts/")
    assert "signed out after 15 minutes without activity" in response.content.decode()
    assert client.get("/").status_code == 302  # really signed out
    [logout] = events(tenant_a.org, AuditAction.LOGOUT)
    assert logout.detail == {"reason": "idle"}


def test_activity_within_the_timeout_keeps_the_session(tenant_a):
    client = tenant_a.client_for("staff")
    _age_session(client, **{SESSION_LAST_SEEN: 14 * 60})
    assert client.get("/").status_code == 200


def test_the_organisation_sets_the_idle_timeout(tenant_a):
    tenant_a.org.idle_timeout_minutes = 5
    tenant_a.org.save()
    client = tenant_a.client_for("staff")
    _age_session(client, **{SESSION_LAST_SEEN: 5 * 60 + 5})
    assert client.get("/").status_code == 302


def test_a_session_ends_after_12_hours_however_active(tenant_a):
    client = tenant_a.client_for("staff")
    _age_session(client, **{SESSION_AUTH_STARTED: 12 * 3600 + 5, SESSION_LAST_SEEN: 1})
    response = client.get("/", follow=True)
    assert "Sessions last at most 12 hours" in response.content.decode()
    assert events(tenant_a.org, AuditAction.LOGOUT)[0].detail == {"reason": "expired"}


def test_sign_out_everywhere_ends_every_session_of_the_user(tenant_a):
    laptop, phone = tenant_a.client_for("staff"), tenant_a.client_for("staff")
    other_person = tenant_a.client_for("viewer")
    response = laptop.post("/account/sign-out-everywhere/")
    assert response.status_code == 302
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 302
    assert other_person.get("/").status_code == 200
    assert len(events(tenant_a.org, AuditAction.SESSIONS_REVOKED)) == 1


def test_changing_the_password_keeps_this_session_and_ends_the_others(tenant_a):
    this, other = tenant_a.client_for("staff"), tenant_a.client_for("staff")
    too_short = this.post("/account/password/", {
        "old_password": DEFAULT_PASSWORD, "new_password1": "short", "new_password2": "short"})
    assert "at least 12 characters" in too_short.content.decode()
    response = this.post("/account/password/", {
        "old_password": DEFAULT_PASSWORD, "new_password1": "a-much-longer-passphrase-42",
        "new_password2": "a-much-longer-passphrase-42"})
    assert response.status_code == 302
    assert this.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert len(events(tenant_a.org, AuditAction.PASSWORD_CHANGED)) == 1


def test_sign_out_is_audited(tenant_a):
    client = tenant_a.client_for("staff")
    client.post("/logout/")
    assert events(tenant_a.org, AuditAction.LOGOUT)[0].detail == {"reason": "user"}
