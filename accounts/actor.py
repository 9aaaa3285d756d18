"""Who acts: one small value every service and selector takes, whatever the door.

A door builds it once — the web middleware from the session's membership, the API
authentication class from the key, the Celery task base and the management-command base
for the system — and passes it down. It carries the organisation and the permissions, so
``can()`` and ``require()`` never query, and it describes itself to the audit log (duck
typing: ``audit_actor_type``, ``pk``, ``audit_label``), so every event names a user, a key
or a job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from accounts.roles import ROLE_PERMISSIONS, Perm

_JOB_NAME = re.compile(r"^[a-z][a-z0-9_.:\-]{0,47}$")
ALL_PERMISSIONS: frozenset[Perm] = frozenset(Perm)
# The organisation id of platform-wide jobs: no organisation has it (ids start at 1).
PLATFORM_ORGANIZATION_ID = 0


class ActorKind(StrEnum):
    MEMBER = "member"
    API_KEY = "api_key"
    SYSTEM = "system"


class WrongOrganization(PermissionDenied):
    """An object of another organisation reached a service: refused like a missing right."""


@dataclass(frozen=True, slots=True)
class Actor:
    """A member (user + organisation + role), an API key (organisation + scopes) or the system.

    Build one with ``Actor.member``, ``Actor.api_key`` or ``Actor.system``; never by hand.
    """

    kind: ActorKind
    organization_id: int
    permissions: frozenset[Perm]
    user_id: int | None = None
    role: str = ""
    api_key_id: str = ""
    job: str = ""
    # The signed-in User, when a door has it loaded already (never fetched by the actor).
    user: Any = field(default=None, compare=False, repr=False, hash=False)

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def member(cls, membership, user=None) -> Actor:
        """The actor of a signed-in member: the role's permissions in the membership's organisation."""
        return cls(
            kind=ActorKind.MEMBER,
            organization_id=membership.organization_id,
            permissions=ROLE_PERMISSIONS.get(membership.role, frozenset()),
            user_id=membership.user_id,
            role=membership.role,
            user=user if user is not None else membership._state.fields_cache.get("user"),  # never fetched
        )

    @classmethod
    def api_key(cls, *, key_id: str, organization_id: int, permissions) -> Actor:
        """A partner system's key: only the permissions its scopes grant."""
        return cls(kind=ActorKind.API_KEY, organization_id=int(organization_id),
                   permissions=frozenset(permissions), api_key_id=str(key_id))

    @classmethod
    def system(cls, job: str, *, organization_id: int, permissions=ALL_PERMISSIONS) -> Actor:
        """CareRelay itself, acting for one organisation as a named job (``campaign-dispatcher``,
        ``ops:close_billing_period``). Trusted code paths: every permission unless narrowed."""
        if not _JOB_NAME.match(job):
            raise ValueError("a system actor's job is a short identifier such as 'campaign-dispatcher'")
        return cls(kind=ActorKind.SYSTEM, organization_id=int(organization_id),
                   permissions=frozenset(permissions), job=job)

    @classmethod
    def platform(cls, job: str) -> Actor:
        """CareRelay acting across organisations (``ops:rotate_master_key``, ``key-purger``): a system
        actor of no organisation, so ``require(perm, organisation)`` refuses every tenant object;
        only services meant for platform jobs accept it (key management)."""
        return cls.system(job, organization_id=PLATFORM_ORGANIZATION_ID)

    @property
    def is_platform(self) -> bool:
        return self.kind is ActorKind.SYSTEM and self.organization_id == PLATFORM_ORGANIZATION_ID

    # --- permission checks ------------------------------------------------------------------
    def can(self, perm: Perm) -> bool:
        """Whether this actor may do ``perm`` (no query)."""
        return perm in self.permissions

    def require(self, perm: Perm, organization: Any = None) -> None:
        """Raise PermissionDenied (HTTP 403) unless the actor may do ``perm`` — in ``organization``
        (an instance, an id, or any row with ``organization_id``) when one is given."""
        if organization is not None:
            self.require_same_organization(organization)
        if perm not in self.permissions:
            raise PermissionDenied(_DENIED[self.kind])

    def require_same_organization(self, obj: Any) -> None:
        """Refuse an organisation, id or row that is not this actor's organisation."""
        org_id = getattr(obj, "organization_id", None)
        if org_id is None:
            org_id = getattr(obj, "pk", obj)
        if org_id is None or int(org_id) != self.organization_id:
            raise WrongOrganization("That belongs to another organisation.")

    # --- description ------------------------------------------------------------------------
    @property
    def is_member(self) -> bool:
        return self.kind is ActorKind.MEMBER

    @property
    def is_system(self) -> bool:
        return self.kind is ActorKind.SYSTEM

    @property
    def audit_actor_type(self) -> str:
        return {ActorKind.MEMBER: "user", ActorKind.API_KEY: "api_key", ActorKind.SYSTEM: "system"}[self.kind]

    @property
    def pk(self) -> str:
        """The id the audit log stores: the user's id, the key's id or the job's name."""
        if self.kind is ActorKind.MEMBER:
            return str(self.user_id)
        return self.api_key_id if self.kind is ActorKind.API_KEY else self.job

    @property
    def audit_label(self) -> str:
        if self.kind is ActorKind.MEMBER:
            return self.role
        return "api_key" if self.kind is ActorKind.API_KEY else self.job

    def __str__(self) -> str:  # no PHI: kinds and ids only
        return f"{self.audit_actor_type}:{self.pk}@org{self.organization_id}"


_DENIED = {
    ActorKind.MEMBER: "Your role in this organisation does not allow this action.",
    ActorKind.API_KEY: "This API key's scopes do not allow this action.",
    ActorKind.SYSTEM: "This background job is not allowed to do this.",
}


def acting(actor: Actor | None) -> Actor:
    """The actor a service was given, or 403 when the door had none (signed in, but not a member
    of the active organisation): services never run anonymously."""
    if not isinstance(actor, Actor):
        raise PermissionDenied("Sign in as a member of this organisation to do this.")
    return actor


def actor_for(user, organization) -> Actor | None:
    """The member actor of ``user`` in ``organization``, or None (one query). For doors that
    have a user but no membership at hand (tests, older call sites being moved over)."""
    from accounts.models import Membership

    if user is None or not getattr(user, "is_authenticated", False):
        return None
    membership = (Membership.objects.select_related("user")
                  .filter(user=user, organization_id=getattr(organization, "pk", organization)).first())
    return Actor.member(membership) if membership else None
