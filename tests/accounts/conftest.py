"""Helpers for accounts tests: posting the sign-in wizard, reading audit chains, a fake code sender."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_scopes import scopes_disabled

from accounts import otp_delivery
from audit import AuditAction
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD

WIZARD = "login_view-current_step"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters live in the cache (this test run's own Redis database): start from none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def post_password(client: Client, email: str, password: str = DEFAULT_PASSWORD, **extra):
    data = {WIZARD: "auth", "auth-username": email, "auth-password": password}
    return client.post("/login/", data, **extra)


def post_token(client: Client, token: str, **extra):
    return client.post("/login/", {WIZARD: "token", "token-otp_token": token}, **extra)


def post_backup_code(client: Client, code: str):
    return client.post("/login/", {WIZARD: "backup", "backup-otp_token": code})


def current_code(device) -> str:
    return f"{totp(device.bin_key):06d}"


def actions(organization=None, *, since: int = 0) -> list[AuditAction]:
    """The audit actions of an organisation's chain (platform chain for None), oldest first."""
    with scopes_disabled():  # test inspection spans chains
        qs = AuditEvent.objects.filter(organization=organization).order_by("seq")
        return [AuditAction(a) for a in qs.filter(seq__gt=since).values_list("action", flat=True)]


def events(organization, action: AuditAction) -> list[AuditEvent]:
    with scopes_disabled():
        return list(AuditEvent.objects.filter(organization=organization, action=action).order_by("seq"))


class FakeSender:
    def __init__(self):
        self.sent: list[dict] = []

    def __call__(self, *, user, phone_number, token, method):
        self.sent.append({"user": user, "phone_number": phone_number, "token": token, "method": method})


@pytest.fixture
def otp_sender(monkeypatch):
    """A fake sender in place of whatever messaging registered (restored afterwards)."""
    sender = FakeSender()
    monkeypatch.setattr(otp_delivery, "_sender", sender)
    return sender


@pytest.fixture
def no_otp_sender(monkeypatch):
    """No sender at all, as before the messaging app registers one (restored afterwards)."""
    monkeypatch.setattr(otp_delivery, "_sender", None)
