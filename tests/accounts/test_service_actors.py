"""Every accounts service checks its own actor (issue 14.1): a wrong role is refused, and an actor
of another organisation is refused — whichever door called."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts import invitations, key_management, services
from accounts.actor import Actor, WrongOrganization, actor_for
from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def _member_id(tenant, role):
    return Membership.objects.get(user=tenant.member(role), organization=tenant.org).pk


def _invitation_id(tenant):
    with tenant.scope():
        return invitations.send_invitation(organization=tenant.org, actor=actor_for(tenant.owner, tenant.org),
                                           email="new@x.test", role=Role.STAFF).invitation.pk


def _calls(tenant):
    """Each accounts service that acts for someone, as a function of the actor."""
    org = tenant.org
    staff_id = _member_id(tenant, "staff")
    invitation_id = _invitation_id(tenant)
    return {
        "change_role": lambda a: services.change_role(organization=org, actor=a, membership_id=staff_id,
                                                      role=Role.VIEWER),
        "remove_member": lambda a: services.remove_member(organization=org, actor=a, membership_id=staff_id),
        "unlock_member": lambda a: services.unlock_member(organization=org, actor=a, membership_id=staff_id),
        "update_organization_settings": lambda a: services.update_organization_settings(
            organization=org, actor=a, idle_timeout_minutes=30),
        "send_invitation": lambda a: invitations.send_invitation(organization=org, actor=a,
                                                                 email="other@x.test", role=Role.STAFF),
        "revoke_invitation": lambda a: invitations.revoke_invitation(organization=org, actor=a,
                                                                     invitation_id=invitation_id),
    }


SERVICES = ["change_role", "remove_member", "unlock_member", "update_organization_settings",
            "send_invitation", "revoke_invitation"]


@pytest.mark.parametrize("name", SERVICES)
def test_a_member_whose_role_lacks_the_permission_is_refused(tenant_a, name):
    call = _calls(tenant_a)[name]
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        call(actor_for(tenant_a.viewer, tenant_a.org))


@pytest.mark.parametrize("name", SERVICES)
def test_an_api_key_without_the_scope_is_refused(tenant_a, name):
    call = _calls(tenant_a)[name]
    key = Actor.api_key(key_id="k1", organization_id=tenant_a.org.pk, permissions=[])
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        call(key)


@pytest.mark.parametrize("name", SERVICES)
def test_an_actor_of_another_organisation_is_refused(tenant_a, tenant_b, name):
    call = _calls(tenant_a)[name]
    with tenant_a.scope(), pytest.raises(WrongOrganization):
        call(actor_for(tenant_b.owner, tenant_b.org))
    with tenant_a.scope(), pytest.raises(WrongOrganization):
        call(Actor.system("ops:test", organization_id=tenant_b.org.pk))


@pytest.mark.parametrize("name", SERVICES)
def test_the_right_actor_is_allowed(tenant_a, name):
    call = _calls(tenant_a)[name]
    with tenant_a.scope():
        call(actor_for(tenant_a.owner, tenant_a.org))


def test_a_member_may_leave_without_the_manage_permission(tenant_a):
    with tenant_a.scope():
        services.remove_member(organization=tenant_a.org, actor=actor_for(tenant_a.viewer, tenant_a.org),
                               membership_id=_member_id(tenant_a, "viewer"))
    assert not Membership.objects.filter(user=tenant_a.viewer).exists()


# --- key management: CareRelay's own jobs only ------------------------------------------------------

KEY_CALLS = {
    "rotate_data_key": lambda org, a: key_management.rotate_data_key(org, actor=a),
    "destroy_organization_keys": lambda org, a: key_management.destroy_organization_keys(org, actor=a),
    "purge_retired_data_keys": lambda org, a: key_management.purge_retired_data_keys(org, actor=a),
}


@pytest.mark.parametrize("name", KEY_CALLS)
def test_key_management_refuses_members_even_owners(tenant_a, name):
    with pytest.raises(PermissionDenied):
        KEY_CALLS[name](tenant_a.org, actor_for(tenant_a.owner, tenant_a.org))


@pytest.mark.parametrize("name", KEY_CALLS)
def test_key_management_refuses_another_organisations_job(tenant_a, tenant_b, name):
    with pytest.raises(WrongOrganization):
        KEY_CALLS[name](tenant_a.org, Actor.system("ops:test", organization_id=tenant_b.org.pk))


@pytest.mark.parametrize("name", KEY_CALLS)
def test_key_management_accepts_the_organisations_own_job_and_platform_jobs(tenant_a, tenant_b, name):
    KEY_CALLS[name](tenant_a.org, Actor.system("ops:test", organization_id=tenant_a.org.pk))
    KEY_CALLS[name](tenant_b.org, Actor.platform("ops:test"))


def test_master_key_rotation_needs_a_platform_job(tenant_a):
    with pytest.raises(PermissionDenied):
        key_management.rotate_master_key(actor=Actor.system("ops:test", organization_id=tenant_a.org.pk))
    with pytest.raises(PermissionDenied):
        key_management.rotate_master_key(actor=actor_for(tenant_a.owner, tenant_a.org))
    key_management.rotate_master_key(actor=Actor.platform("ops:rotate_master_key"))


@pytest.mark.parametrize("name", SERVICES)
def test_a_door_without_an_actor_is_refused_not_crashed(tenant_a, name):
    call = _calls(tenant_a)[name]
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        call(None)


@pytest.mark.parametrize("name", KEY_CALLS)
def test_key_management_without_an_actor_is_refused(tenant_a, name):
    with pytest.raises(PermissionDenied):
        KEY_CALLS[name](tenant_a.org, None)
