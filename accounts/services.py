"""Writes for organisations and memberships: one transaction each, audited in it."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

import audit
from accounts.models import Membership, Organization, User
from accounts.roles import Role
from audit import AuditAction


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "organisation"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_organization(*, name: str, owner: User, default_region: str = "US",
                        timezone: str = "UTC") -> Organization:
    """Create an organisation with `owner` as its owner; its keys are made on first use."""
    organization = Organization.objects.create(
        name=name, slug=_unique_slug(name), default_region=default_region.upper(), timezone=timezone
    )
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit.record(AuditAction.ORGANIZATION_CREATED, organization=organization, actor=owner)
    return organization


@transaction.atomic
def add_member(*, organization: Organization, user: User, role: str, actor=None) -> Membership:
    """Give `user` a role in `organization` (or change the role they have)."""
    membership, created = Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(AuditAction.ROLE_CHANGED, organization=organization, actor=actor,
                     target=membership, detail={"role": role})
    return membership
