"""Writes for organisations and memberships: one transaction each, audited in it.

Permission checks live here, not in views or templates, so every door (web UI, admin,
API, commands) enforces the same rules. Each service takes the door's `actor`
(accounts.actor.Actor): a missing right answers 403, an actor of another organisation is
refused (WrongOrganization, 403), another organisation's member id answers 404.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.text import slugify

import audit
from accounts import org_hooks
from accounts.actor import Actor, acting
from accounts.models import Membership, Organization, User
from accounts.roles import Perm, Role
from audit import AuditAction

# Fields of Organization that owners/admins may change, through update_organization_settings.
EDITABLE_ORGANIZATION_FIELDS = frozenset(
    {"name", "default_region", "timezone", "require_two_factor", "idle_timeout_minutes"}
)


class MembershipRuleError(ValidationError):
    """A change the owner rules forbid (e.g. removing the last owner); the message says what to do."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "organisation"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def acts_as_owner(actor: Actor) -> bool:
    """Owner-only rules (granting or removing the owner role): owners, and CareRelay's own jobs."""
    return actor.is_system or actor.role == Role.OWNER


def _member(organization: Organization, membership_id: int, *, lock: bool = False) -> Membership:
    # Another organisation's member answers exactly like a missing one.
    qs = Membership.objects.select_related("user").filter(organization=organization)
    if lock:
        qs = qs.select_for_update()
    member = qs.filter(pk=membership_id).first()
    if member is None:
        raise Http404("No such member in your organisation.")
    return member


def _owner_count(organization: Organization) -> int:
    # Locks every owner row, so two owners demoting each other at once cannot leave none.
    return len(list(Membership.objects.select_for_update().filter(
        organization=organization, role=Role.OWNER).values_list("pk", flat=True)))


@transaction.atomic
def create_organization(*, name: str, owner: User, default_region: str = "US",
                        timezone: str = "UTC") -> Organization:
    """Create an organisation with `owner` as its owner; its keys are made on first use."""
    organization = Organization.objects.create(
        name=name, slug=_unique_slug(name), default_region=default_region.upper(), timezone=timezone
    )
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit.record(AuditAction.ORGANIZATION_CREATED, organization=organization, actor=owner)
    org_hooks.organization_created(organization)  # billing starts the trial
    return organization


@transaction.atomic
def change_role(*, organization: Organization, actor: Actor, membership_id: int, role: str) -> Membership:
    """Change a member's role (MEMBERS_MANAGE in `organization`).

    Only owners grant or take away the owner role; the last owner cannot be demoted.
    """
    acting(actor).require(Perm.MEMBERS_MANAGE, organization)
    if role not in Role.values:
        raise MembershipRuleError("Choose one of the roles: owner, admin, staff or viewer.")
    member = _member(organization, membership_id, lock=True)
    if member.role == role:
        return member
    if Role.OWNER in (member.role, role) and not acts_as_owner(actor):
        raise PermissionDenied("Only an owner can make someone an owner or change an owner's role.")
    if member.role == Role.OWNER and _owner_count(organization) <= 1:
        raise MembershipRuleError(
            "This is the organisation's last owner. Make another member an owner first, "
            "then change this role."
        )
    previous = member.role
    member.role = role
    member.save(update_fields=["role"])
    audit.record(AuditAction.ROLE_CHANGED, organization=organization, actor=actor, target=member,
                 detail={"from_role": previous, "to_role": role, "user_id": member.user_id})
    return member


@transaction.atomic
def remove_member(*, organization: Organization, actor: Actor, membership_id: int) -> None:
    """Remove a member (MEMBERS_MANAGE), or let a member leave (their own membership).

    Owners are removed only by owners; never the last one.
    """
    acting(actor).require_same_organization(organization)
    member = _member(organization, membership_id, lock=True)
    leaving = actor.user_id is not None and member.user_id == actor.user_id
    if not leaving:
        actor.require(Perm.MEMBERS_MANAGE, organization)
    if member.role == Role.OWNER and not (leaving or acts_as_owner(actor)):
        raise PermissionDenied("Only an owner can remove an owner.")
    if member.role == Role.OWNER and _owner_count(organization) <= 1:
        raise MembershipRuleError(
            "You are the last owner: make another member an owner before you leave."
            if leaving else
            "This is the organisation's last owner. Make another member an owner first."
        )
    audit.record(AuditAction.MEMBER_REMOVED, organization=organization, actor=actor, target=member,
                 detail={"user_id": member.user_id, "role": member.role, "left": leaving})
    member.delete()


@transaction.atomic
def unlock_member(*, organization: Organization, actor: Actor, membership_id: int) -> int:
    """Lift a sign-in lockout of a member (every address); returns how many lock records were cleared."""
    from axes.utils import reset

    acting(actor).require(Perm.MEMBERS_MANAGE, organization)
    member = _member(organization, membership_id)
    from accounts.lockout import lockout_key

    cleared = reset(username=lockout_key(member.user.email))
    audit.record(AuditAction.ACCOUNT_UNLOCKED, organization=organization, actor=actor, target=member,
                 detail={"user_id": member.user_id, "records_cleared": cleared})
    return cleared


@transaction.atomic
def update_organization_settings(*, organization: Organization, actor: Actor, **changes) -> list[str]:
    """Change the organisation's settings (name, region, time zone, 2FA for all, idle timeout):
    ORG_SETTINGS_MANAGE in `organization`.

    Returns the names of the fields that changed; the audit event lists names, never values.
    """
    acting(actor).require(Perm.ORG_SETTINGS_MANAGE, organization)
    unknown = set(changes) - EDITABLE_ORGANIZATION_FIELDS
    if unknown:
        raise ValueError(f"Not editable here: {sorted(unknown)}")
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    changed = [field for field, value in changes.items() if getattr(org, field) != value]
    for field in changed:
        setattr(org, field, changes[field])
    org.full_clean(exclude=["slug"])
    if changed:
        org.save(update_fields=changed)
        audit.record(AuditAction.ORGANIZATION_SETTINGS_CHANGED, organization=org, actor=actor,
                     target=org, detail={"fields": sorted(changed)})
    for field in changed:
        setattr(organization, field, changes[field])
    return sorted(changed)

