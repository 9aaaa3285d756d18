"""The Actor value: permissions without queries, organisation checks, audit description."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.actor import Actor, ActorKind, WrongOrganization
from accounts.roles import Perm, Role
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_member_actor_answers_can_without_a_query(django_assert_num_queries):
    membership = MembershipFactory(role=Role.STAFF)
    actor = Actor.member(membership)
    with django_assert_num_queries(0):
        assert actor.can(Perm.MESSAGES_SEND)
        assert not actor.can(Perm.CONTACTS_EXPORT)
        actor.require(Perm.CONTACTS_EDIT, membership.organization)
    assert actor.kind is ActorKind.MEMBER
    assert (actor.audit_actor_type, actor.pk, actor.audit_label) == ("user", str(membership.user_id), "staff")


@pytest.mark.django_db
def test_member_actor_refuses_another_organisations_objects():
    actor = Actor.member(MembershipFactory(role=Role.OWNER))
    other = MembershipFactory().organization
    with pytest.raises(WrongOrganization):
        actor.require(Perm.CONTACTS_VIEW, other)
    with pytest.raises(WrongOrganization):
        actor.require_same_organization(other.pk)


def test_api_key_actor_holds_only_its_scopes():
    actor = Actor.api_key(key_id="k1", organization_id=7, permissions={Perm.CONTACTS_VIEW})
    assert actor.can(Perm.CONTACTS_VIEW)
    with pytest.raises(PermissionDenied, match="API key"):
        actor.require(Perm.CONTACTS_EDIT)
    assert (actor.audit_actor_type, actor.pk) == ("api_key", "k1")


def test_system_actor_is_a_named_job():
    actor = Actor.system("campaign-dispatcher", organization_id=3)
    assert actor.can(Perm.MESSAGES_SEND) and actor.is_system
    assert (actor.audit_actor_type, actor.pk, actor.audit_label) == ("system", "campaign-dispatcher",
                                                                     "campaign-dispatcher")
    with pytest.raises(ValueError):
        Actor.system("Free text with spaces", organization_id=3)
    narrow = Actor.system("ops:usage_report", organization_id=3, permissions={Perm.CONTACTS_VIEW})
    assert not narrow.can(Perm.MESSAGES_SEND)
    assert "phone" not in str(narrow)
