"""Shared fixtures: two organisations with owner/admin/staff/viewer personas, and an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django_scopes import scope, scopes_disabled

from accounts import blind_index, crypto
from accounts.models import Membership, Organization, User
from accounts.roles import Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    """Unwrapped keys are cached per process; each test starts from the database."""
    crypto.forget_cached_keys()
    blind_index.forget_derived_keys()
    yield
    crypto.forget_cached_keys()
    blind_index.forget_derived_keys()


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch):
    # The twilio SDK reads these and would reroute requests away from our fakes.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing costs ~0.3 s a password; personas would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Tasks run in-process unless a test starts a real worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@dataclass
class Tenant:
    org: Organization
    owner: User
    admin: User
    staff: User
    viewer: User

    def member(self, role: str) -> User:
        return getattr(self, role)

    def client_for(self, role: str) -> Client:
        client = Client()
        client.force_login(self.member(role))
        return client

    def scope(self):
        return scope(organization=self.org)


def _make_tenant(name: str) -> Tenant:
    org = OrganizationFactory(name=name)
    users = {}
    for role in Role.values:
        membership = MembershipFactory(organization=org, role=role,
                                       user=UserFactory(email=f"{role}@{org.slug}.test"))
        users[role] = membership.user
    return Tenant(org=org, **users)


@pytest.fixture
def tenant_a(db) -> Tenant:
    return _make_tenant("Org A Clinic")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return _make_tenant("Org B Clinic")


@pytest.fixture
def outsider(db) -> User:
    """A signed-up user with no organisation at all."""
    return UserFactory(email="outsider@example.test")


@pytest.fixture
def unscoped():
    """Test set-up that spans organisations."""
    with scopes_disabled():
        yield


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


__all__ = ["Membership", "Tenant", "login"]
