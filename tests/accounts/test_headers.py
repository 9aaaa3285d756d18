"""Security headers and CSRF on real responses."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/login/", "/signup/", "/healthz"])
def test_public_pages_carry_the_security_headers(path):
    response = Client().get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"] and "microphone=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_signed_in_pages_are_never_cached(tenant_a):
    response = tenant_a.client_for("admin").get("/org/members/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_forms_are_csrf_protected(tenant_a):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"auth-username": "x@y.z", "auth-password": "p"}).status_code == 403
    client.force_login(tenant_a.viewer)
    assert client.post("/logout/").status_code == 403
    assert client.post("/account/sign-out-everywhere/").status_code == 403


def test_production_settings_harden_cookies_and_hsts(monkeypatch):
    import importlib

    import config.settings as settings_module

    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.setenv("PHI_MASTER_KEYS", "a" * 43)  # 32 bytes: a malformed ring refuses to start
    monkeypatch.setenv("ALLOWED_HOSTS", "app.example.org")
    production = importlib.reload(settings_module)
    try:
        assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
        assert production.SESSION_COOKIE_HTTPONLY
        assert production.SESSION_COOKIE_SAMESITE == "Lax"
        assert production.SESSION_COOKIE_NAME.startswith("__Host-")
        assert production.SECURE_HSTS_SECONDS >= 31536000
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)
