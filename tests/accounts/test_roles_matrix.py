"""Every role against every protected accounts action; other organisations answer 404; owner rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts import services
from accounts.actor import actor_for
from accounts.invitations import hash_token
from accounts.models import Invitation, Membership
from accounts.roles import Perm, Role, role_has
from accounts.roles_doc import DOC, generated_block, matrix_markdown
from audit import AuditAction
from tests.accounts.conftest import events
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _membership(tenant, role):
    return Membership.objects.get(organization=tenant.org, user=tenant.member(role))


def _extra_member(tenant):
    # A member who is none of the personas, so "remove" never means "leave" for the actor.
    return MembershipFactory(organization=tenant.org, role=Role.VIEWER)


def _invitation(tenant):
    with tenant.scope():
        return Invitation.objects.create(organization=tenant.org, email="new@x.test", role=Role.STAFF,
                                         token_hash=hash_token("t"),
                                         expires_at=timezone.now() + timedelta(hours=1))


# (name, permission, request maker) — every protected page and action of accounts.
ACTIONS = [
    ("members page", Perm.MEMBERS_MANAGE, lambda c, t: c.get("/org/members/")),
    ("invite", Perm.MEMBERS_MANAGE,
     lambda c, t: c.post("/org/members/invite/", {"email": "newbie@x.test", "role": "staff"})),
    ("change role", Perm.MEMBERS_MANAGE,
     lambda c, t: c.post(f"/org/members/{_extra_member(t).pk}/role/", {"role": "staff"})),
    ("remove member", Perm.MEMBERS_MANAGE,
     lambda c, t: c.post(f"/org/members/{_extra_member(t).pk}/remove/")),
    ("unlock member", Perm.MEMBERS_MANAGE,
     lambda c, t: c.post(f"/org/members/{_extra_member(t).pk}/unlock/")),
    ("revoke invitation", Perm.MEMBERS_MANAGE,
     lambda c, t: c.post(f"/org/invitations/{_invitation(t).pk}/revoke/")),
    ("settings page", Perm.ORG_SETTINGS_MANAGE, lambda c, t: c.get("/org/settings/")),
    ("save settings", Perm.ORG_SETTINGS_MANAGE,
     lambda c, t: c.post("/org/settings/", {"name": "Renamed", "idle_timeout_minutes": 20})),
]


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize(("name", "perm", "make_request"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_each_role_gets_exactly_what_the_matrix_grants(tenant_a, role, name, perm, make_request):
    response = make_request(tenant_a.client_for(role), tenant_a)
    if role_has(role, perm):
        assert response.status_code in (200, 302), name
    else:
        assert response.status_code == 403, name


@pytest.mark.parametrize("role", Role.values)
def test_the_admin_site_opens_only_for_roles_with_admin_access(tenant_a, role):
    response = tenant_a.client_for(role).get("/admin/")
    assert (response.status_code == 200) is role_has(role, Perm.ADMIN_SITE)


def test_docs_roles_md_matches_the_permission_matrix():
    documented = generated_block(DOC.read_text(encoding="utf-8"))
    assert documented == matrix_markdown(), (
        "docs/roles.md is out of date; run accounts.roles_doc.write() or paste:\n" + matrix_markdown())


@pytest.mark.parametrize("path", ["role/", "remove/", "unlock/"])
def test_another_organisations_member_answers_404(tenant_a, tenant_b, path):
    target = _membership(tenant_a, "staff")
    response = tenant_b.client_for("admin").post(f"/org/members/{target.pk}/{path}", {"role": "viewer"})
    assert response.status_code == 404
    assert Membership.objects.filter(pk=target.pk, role=Role.STAFF).exists()


def test_another_organisations_invitation_answers_404(tenant_a, tenant_b):
    invitation = _invitation(tenant_a)
    assert tenant_b.client_for("admin").post(f"/org/invitations/{invitation.pk}/revoke/").status_code == 404
    with tenant_a.scope():
        invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_services_refuse_a_role_without_the_permission_whatever_the_door(tenant_a):
    with pytest.raises(PermissionDenied):
        services.change_role(organization=tenant_a.org, actor=actor_for(tenant_a.staff, tenant_a.org),
                             membership_id=_membership(tenant_a, "viewer").pk, role=Role.ADMIN)


def test_an_admin_cannot_demote_or_remove_an_owner_nor_make_one(tenant_a):
    client = tenant_a.client_for("admin")
    owner = _membership(tenant_a, "owner")
    assert client.post(f"/org/members/{owner.pk}/role/", {"role": "staff"}).status_code == 403
    assert client.post(f"/org/members/{owner.pk}/remove/").status_code == 403
    staff = _membership(tenant_a, "staff")
    assert client.post(f"/org/members/{staff.pk}/role/", {"role": "owner"}).status_code == 403
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER
    assert Membership.objects.get(pk=staff.pk).role == Role.STAFF


def test_the_last_owner_can_neither_be_demoted_nor_leave(tenant_a):
    client = tenant_a.client_for("owner")
    owner = _membership(tenant_a, "owner")
    page = client.post(f"/org/members/{owner.pk}/role/", {"role": "admin"}, follow=True)
    assert "last owner" in page.content.decode()
    page = client.post(f"/org/members/{owner.pk}/remove/", follow=True)
    assert "You are the last owner" in page.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_an_owner_can_hand_over_and_then_step_down(tenant_a):
    client = tenant_a.client_for("owner")
    admin = _membership(tenant_a, "admin")
    owner = _membership(tenant_a, "owner")
    client.post(f"/org/members/{admin.pk}/role/", {"role": "owner"})
    client.post(f"/org/members/{owner.pk}/role/", {"role": "admin"})
    assert Membership.objects.get(pk=admin.pk).role == Role.OWNER
    assert Membership.objects.get(pk=owner.pk).role == Role.ADMIN
    changes = events(tenant_a.org, AuditAction.ROLE_CHANGED)
    assert [(e.detail["from_role"], e.detail["to_role"]) for e in changes] == [
        ("admin", "owner"), ("owner", "admin")]


def test_a_viewer_may_leave_an_organisation(tenant_a):
    viewer = _membership(tenant_a, "viewer")
    assert tenant_a.client_for("viewer").post(f"/org/members/{viewer.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert events(tenant_a.org, AuditAction.MEMBER_REMOVED)[0].detail["left"] is True


def test_removing_a_member_is_audited_and_they_lose_access(tenant_a):
    staff = _membership(tenant_a, "staff")
    response = tenant_a.client_for("admin").post(f"/org/members/{staff.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=staff.pk).exists()
    [removed] = events(tenant_a.org, AuditAction.MEMBER_REMOVED)
    assert removed.detail == {"user_id": tenant_a.staff.pk, "role": "staff", "left": False}
    assert tenant_a.client_for("staff").get("/").status_code == 403  # no organisation any more


def test_organisation_settings_are_saved_validated_and_audited(tenant_a):
    client = tenant_a.client_for("admin")
    too_short = client.post("/org/settings/", {"name": "A", "idle_timeout_minutes": 2})
    assert too_short.status_code == 400
    assert "greater than or equal to 5" in too_short.content.decode()
    ok = client.post("/org/settings/", {"name": tenant_a.org.name, "require_two_factor": "on",
                                        "idle_timeout_minutes": 30})
    assert ok.status_code == 302
    tenant_a.org.refresh_from_db()
    assert (tenant_a.org.require_two_factor, tenant_a.org.idle_timeout_minutes) == (True, 30)
    [changed] = events(tenant_a.org, AuditAction.ORGANIZATION_SETTINGS_CHANGED)
    assert changed.detail == {"fields": ["idle_timeout_minutes", "require_two_factor"]}


def test_the_navbar_switches_between_a_users_organisations(tenant_a, tenant_b):
    Membership.objects.create(user=tenant_a.staff, organization=tenant_b.org, role=Role.VIEWER)
    client = tenant_a.client_for("staff")
    page = client.get("/").content.decode()
    assert 'data-testid="org-switcher"' in page and "Org B Clinic" in page
    client.post("/org/switch/", {"organization": tenant_b.org.pk})
    assert client.get("/").context["current_organization"] == tenant_b.org
    # An organisation the user does not belong to answers 404.
    other = Membership.objects.exclude(organization__in=[tenant_a.org, tenant_b.org]).first()
    foreign_id = other.organization_id if other else 999999
    assert client.post("/org/switch/", {"organization": foreign_id}).status_code == 404
