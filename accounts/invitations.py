"""Invitations: admins invite by e-mail with a role; the link works once, for 72 hours.

The token is 256 random bits shown only in the e-mail; the database keeps its SHA-256, so a
copy of the database cannot be turned into working links.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

import audit
from accounts import org_hooks
from accounts.actor import Actor, acting
from accounts.email_address import canonical_email
from accounts.models import Invitation, Membership, Organization, User
from accounts.roles import Perm, Role, role_has
from accounts.services import acts_as_owner
from audit import AuditAction


class InvitationUnusable(Exception):
    """The link is unknown, expired, revoked or already used; the message says what to do next."""


@dataclass(frozen=True)
class SentInvitation:
    invitation: Invitation
    url: str  # the only copy of the token; e-mailed, never stored


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('accept_invitation', args=[token])}"


def send_invitation(*, organization: Organization, actor: Actor, email: str, role: str) -> SentInvitation:
    """Invite `email` to `organization` with `role` and e-mail the link (MEMBERS_MANAGE).
    Only owners invite owners."""
    acting(actor).require(Perm.MEMBERS_MANAGE, organization)
    email = canonical_email(email)
    if role not in Role.values:
        raise ValidationError("Choose one of the roles: owner, admin, staff or viewer.")
    if role == Role.OWNER and not acts_as_owner(actor):
        raise PermissionDenied("Only an owner can invite another owner.")
    if Membership.objects.filter(organization=organization, user__email=email).exists():
        raise ValidationError(
            "That person is already a member. Change their role on the members page instead.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # A new invitation to the same address replaces any pending one.
        Invitation.objects.filter(organization=organization, email=email, accepted_at=None,
                                  revoked_at=None).update(revoked_at=timezone.now())
        org_hooks.seats_requested(organization_id=organization.pk)  # billing's user cap (raises)
        now = timezone.now()
        invitation = Invitation.objects.create(
            organization=organization, email=email, role=role, token_hash=hash_token(token),
            invited_by_id=actor.user_id, created_at=now,
            expires_at=now + timedelta(hours=settings.INVITATION_LIFETIME_HOURS),
        )
        audit.record(AuditAction.INVITATION_SENT, organization=organization, actor=actor,
                     target=invitation, detail={"role": role})
        url = invitation_url(token)
        body = render_to_string("accounts/email/invitation.txt", {
            "organization": organization, "role": Role(role).label, "url": url,
            "inviter_name": actor.user.display_name if actor.user is not None else organization.name,
            "hours": settings.INVITATION_LIFETIME_HOURS,
        })
        # Sent after commit: no e-mail for an invitation that was rolled back.
        transaction.on_commit(lambda: send_mail(
            f"You are invited to {organization.name} on CareRelay", body, None, [email]))
    return SentInvitation(invitation=invitation, url=url)


@transaction.atomic
def revoke_invitation(*, organization: Organization, actor: Actor, invitation_id: int) -> None:
    """Withdraw a pending invitation (its link stops working): MEMBERS_MANAGE."""
    acting(actor).require(Perm.MEMBERS_MANAGE, organization)
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:  # the scoped manager hides other organisations' invitations
        raise Http404("No such invitation in your organisation.")
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(AuditAction.INVITATION_REVOKED, organization=organization, actor=actor,
                     target=invitation)


def invitation_for_token(token: str, *, for_update: bool = False) -> Invitation:
    """The invitation a link names, whatever its organisation; raises InvitationUnusable.

    The person opening the link has no organisation yet, so there is no scope to enter.
    Scoping is disabled for this single lookup by the hash of a 256-bit secret: it can only
    ever return the one invitation whose link the visitor holds, and nothing else is read
    outside a scope — the acceptance itself runs inside the invitation's organisation scope.
    """
    with scopes_disabled():  # one lookup by a 256-bit token hash (see docstring)
        qs = Invitation.objects.select_related("organization")
        if for_update:
            qs = qs.select_for_update(of=("self",))
        invitation = qs.filter(token_hash=hash_token(token)).first()
    if invitation is None or not invitation.organization.is_active:
        raise InvitationUnusable(
            "This invitation link is not valid. Check that you copied the whole link, or ask your "
            "administrator to send a new invitation.")
    if invitation.accepted_at is not None:
        raise InvitationUnusable(
            "This invitation has already been used. Sign in instead, or ask your administrator "
            "for a new one.")
    if invitation.revoked_at is not None:
        raise InvitationUnusable(
            "This invitation was withdrawn. Ask your administrator to send a new one if you still "
            "need access.")
    if invitation.expires_at <= timezone.now():
        raise InvitationUnusable(
            "This invitation has expired (links work for 72 hours). Ask your administrator to send "
            "a new one.")
    _require_inviter_still_allowed(invitation)
    return invitation


def _require_inviter_still_allowed(invitation: Invitation) -> None:
    """An invitation is only as good as its sender: they must still be allowed to send it.

    Without this, an owner invitation outlives its sender's demotion or removal, and a removed
    admin's pending links keep adding people.
    """
    with scope(organization=invitation.organization):
        inviter = Membership.objects.filter(organization=invitation.organization,
                                            user_id=invitation.invited_by_id).first()
    allowed = inviter is not None and role_has(inviter.role, Perm.MEMBERS_MANAGE) and (
        invitation.role != Role.OWNER or inviter.role == Role.OWNER)
    if not allowed:
        raise InvitationUnusable(
            "The person who sent this invitation can no longer invite with this role. Ask an owner or "
            "admin of the organisation to send you a new one.")


@transaction.atomic
def accept_invitation(*, token: str, user: User | None = None, full_name: str = "",
                      password: str = "") -> tuple[User, Membership]:
    """Accept an invitation: attach the signed-in `user`, or create the account with `password`.

    A signed-in user must be the invited address. The link is spent in the same transaction.
    """
    invitation = invitation_for_token(token, for_update=True)
    organization = invitation.organization
    if user is not None and user.is_authenticated:
        if canonical_email(user.email) != canonical_email(invitation.email):
            raise InvitationUnusable(
                "This invitation was sent to a different e-mail address. Sign out, then open the link again.")
        if user.email_verified_at is None:
            # The link reached this address, which proves it (as for a new account below).
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
    else:
        if User.objects.filter(email=canonical_email(invitation.email)).exists():
            raise InvitationUnusable("You already have an account: sign in first, then open the link again.")
        user = User(email=invitation.email, full_name=full_name.strip())
        validate_password(password, user)
        user.set_password(password)
        # The link reached this address, which proves it.
        user.email_verified_at = timezone.now()
        user.save()
    with scope(organization=organization):
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": invitation.role})
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(AuditAction.INVITATION_ACCEPTED, organization=organization, actor=user,
                     target=invitation, detail={"role": membership.role, "user_id": user.pk,
                                                "new_member": created})
    return user, membership


def pending_invitations(organization: Organization):
    """Invitations of the current organisation that can still be accepted (inside its scope)."""
    return Invitation.objects.filter(organization=organization, accepted_at=None, revoked_at=None,
                                     expires_at__gt=timezone.now()).select_related("invited_by")
