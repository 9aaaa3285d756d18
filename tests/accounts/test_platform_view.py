"""Platform operators see every organisation only inside the explicit, audited platform view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.invitations import hash_token
from accounts.models import Invitation, Membership
from accounts.platform import platform_view_active
from accounts.roles import Role
from audit import AuditAction
from audit.models import AuditEvent
from tests.conftest import otp_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BANNER = "Platform view: you are seeing every organisation's records"


def _invite(tenant, email):
    with tenant.scope():
        Invitation.objects.create(organization=tenant.org, email=email, role=Role.STAFF,
                                  token_hash=hash_token(email),
                                  expires_at=timezone.now() + timedelta(hours=1))


@pytest.fixture
def operator(tenant_a):
    """A platform superuser who works in Org A (as a viewer there), with a verified second factor."""
    user = UserFactory(email="ops@carerelay.test", is_superuser=True, is_staff=True)
    Membership.objects.create(user=user, organization=tenant_a.org, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    otp_verify(client, user)
    return user, client


def test_a_superuser_sees_only_the_active_organisation_until_entering_the_platform_view(
        tenant_a, tenant_b, operator):
    user, client = operator
    _invite(tenant_a, "a-invitee@x.test")
    _invite(tenant_b, "b-invitee@x.test")
    page = client.get("/admin/accounts/invitation/").content.decode()
    assert "a-invitee@x.test" in page and "b-invitee@x.test" not in page
    b_member = Membership.objects.get(user=tenant_b.staff, organization=tenant_b.org)
    b_change = f"/admin/accounts/membership/{b_member.pk}/change/"
    assert b_change not in client.get("/admin/accounts/membership/").content.decode()
    response = client.post("/platform-view/", {"action": "enter"})
    assert response.status_code == 302
    page = client.get("/admin/accounts/invitation/").content.decode()
    assert "a-invitee@x.test" in page and "b-invitee@x.test" in page
    assert b_change in client.get("/admin/accounts/membership/").content.decode()
    with scopes_disabled():
        [event] = AuditEvent.objects.filter(action=AuditAction.PLATFORM_VIEW_ENTERED)
    assert event.actor_id == str(user.pk)
    # Leaving returns to the active organisation only.
    client.post("/platform-view/", {"action": "leave"})
    page = client.get("/admin/accounts/invitation/").content.decode()
    assert "b-invitee@x.test" not in page


def test_every_page_shows_the_banner_with_a_leave_button_while_it_is_on(tenant_a, operator):
    _user, client = operator
    assert BANNER not in client.get("/").content.decode()
    client.post("/platform-view/", {"action": "enter"})
    for path in ["/", "/account/two_factor/"]:
        html = client.get(path).content.decode()
        assert BANNER in html and 'value="leave"' in html, path
    admin = client.get("/admin/").content.decode()
    assert "Platform view: you are seeing every organisation" in admin


@pytest.mark.parametrize("role", Role.values)
def test_members_who_are_not_superusers_get_403(tenant_a, role):
    client = tenant_a.client_for(role)
    assert client.post("/platform-view/", {"action": "enter"}).status_code == 403
    assert "platform_view" not in client.session
    with scopes_disabled():
        assert not AuditEvent.objects.filter(action=AuditAction.PLATFORM_VIEW_ENTERED).exists()


def test_the_toggle_is_post_only_and_csrf_protected(tenant_a, operator):
    user, _client = operator
    assert _client.get("/platform-view/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    otp_verify(strict, user)
    assert strict.post("/platform-view/", {"action": "enter"}).status_code == 403
    assert "platform_view" not in strict.session


def test_a_superuser_session_without_the_second_factor_never_gets_the_platform_view(tenant_a, tenant_b):
    # Before: superusers needed no second factor unless they were an owner/admin somewhere, and the
    # session flag alone lifted the tenant scope.
    user = UserFactory(email="ops2@carerelay.test", is_superuser=True, is_staff=True)
    Membership.objects.create(user=user, organization=tenant_a.org, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/account/two_factor/setup/"
    session = client.session
    session["platform_view"] = True
    session.save()
    _invite(tenant_b, "b-invitee@x.test")
    assert client.get("/").status_code == 302  # still held at set-up, nothing cross-organisation
    request = RequestFactory().get("/")
    request.user, request.session = user, client.session
    user.is_verified = lambda: False
    assert platform_view_active(request) is False
