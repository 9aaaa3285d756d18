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
def _fresh_process_caches():
    """Webhook channels, API keys and plan answers are cached per process (ProcessCache); a
    rolled-back test must not leave one behind."""
    from accounts.process_cache import ProcessCache

    ProcessCache.forget_everywhere()
    yield
    ProcessCache.forget_everywhere()


@pytest.fixture(autouse=True)
def _fresh_webhook_subscriptions():
    """Partner-webhook subscriptions are cached per process; each test starts from the database."""
    from accounts.event_webhooks.events import forget_subscriptions

    forget_subscriptions()
    yield
    forget_subscriptions()


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

    def client_for(self, role: str, *, otp_verified: bool | None = None) -> Client:
        """A signed-in client. Owners and admins must use 2FA, so their sessions come OTP-verified
        (a TOTP device is created for them); pass otp_verified to choose explicitly."""
        client = Client()
        user = self.member(role)
        client.force_login(user)
        if otp_verified is None:
            otp_verified = role in (Role.OWNER, Role.ADMIN)
        if otp_verified:
            otp_verify(client, user)
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


def otp_verify(client: Client, user: User):
    """Give `user` a confirmed TOTP device (if none) and mark the client's session as having passed it,
    as django_otp.login() does after a correct code. Returns the device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, name="default").first() or TOTPDevice.objects.create(
        user=user, name="default", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


__all__ = ["Membership", "Tenant", "login", "otp_verify"]


@pytest.fixture
def celery_worker_factory(transactional_db, settings):
    """Start real Celery workers on a private queue; the test process sends tasks to it.

    Usage: `worker = celery_worker_factory(include=["messaging.tasks"]).start()`.
    """
    from config.celery import app
    from tests.worker import make_worker

    workers = []
    queue = None

    def factory(include: list[str] | None = None, visibility_timeout: int = 3600, stall_seconds: int = 20):
        nonlocal queue
        worker = make_worker(include or [], visibility_timeout, stall_seconds)
        if queue is None:
            queue = worker.queue
        worker.queue = queue  # every worker of one test consumes the same queue
        workers.append(worker)
        return worker

    app.conf.task_always_eager = False
    old_queue = app.conf.task_default_queue
    old_options = dict(app.conf.broker_transport_options or {})
    app.conf.task_default_queue = "unused"
    yield _QueueBinder(factory, app, lambda: queue)
    for worker in workers:
        worker.stop()
    app.conf.task_default_queue = old_queue
    app.conf.broker_transport_options = old_options
    app.conf.task_always_eager = True


class _QueueBinder:
    """Calling it makes a worker; the app's default queue follows the first worker's queue."""

    def __init__(self, factory, app, current_queue):
        self._factory, self._app, self._queue = factory, app, current_queue

    def __call__(self, include=None, visibility_timeout: int = 3600, stall_seconds: int = 20):
        worker = self._factory(include, visibility_timeout, stall_seconds)
        self._app.conf.task_default_queue = self._queue()
        self._app.conf.broker_transport_options = {"visibility_timeout": visibility_timeout}
        return worker
