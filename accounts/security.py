"""A person's own account security: sign-in/out records, sessions, password, second factors."""

from __future__ import annotations

from django.contrib.auth import logout, update_session_auth_hash
from django.db import transaction
from django.db.models import F
from two_factor.utils import default_device

from accounts.audit_hooks import record_for_user
from accounts.models import Membership, User
from accounts.roles import Role
from accounts.two_factor_methods import WHATSAPP_CODE
from audit import AuditAction

# Roles that may never work without a second factor.
TWO_FACTOR_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def two_factor_required(user: User) -> bool:
    """Whether `user` must have 2FA: platform operators, owner/admin anywhere, or member of an
    organisation requiring it."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        # Operators can reach every organisation's records (platform view): never without a second factor.
        return True
    return Membership.objects.filter(user=user, organization__is_active=True).filter(
        role__in=TWO_FACTOR_ROLES
    ).exists() or Membership.objects.filter(
        user=user, organization__is_active=True, organization__require_two_factor=True
    ).exists()


def has_two_factor(user: User) -> bool:
    """Whether `user` has a primary second factor (backup codes alone are not one)."""
    return default_device(user) is not None


def device_method(device) -> str:
    """A short, PHI-free name for a device's method, for audit detail."""
    model = device._meta.model_name
    if model == "phonedevice":
        return "whatsapp" if device.method == WHATSAPP_CODE else device.method
    return {"totpdevice": "totp", "staticdevice": "backup_codes"}.get(model, model)


def record_sign_in(user: User, *, device=None) -> None:
    """Audit a completed sign-in (password, and the second factor when the user has one)."""
    record_for_user(AuditAction.LOGIN_SUCCEEDED, user, actor=user,
                    detail={"second_factor": device_method(device) if device else "none"})


def sign_out(request, *, reason: str) -> None:
    """End this session and audit why ("user", "idle", "expired")."""
    user = request.user
    if user.is_authenticated:
        record_for_user(AuditAction.LOGOUT, user, actor=user, detail={"reason": reason})
    logout(request)


@transaction.atomic
def revoke_all_sessions(request) -> None:
    """Sign the user out everywhere: every session of theirs, this one included, stops working.

    The user's session generation is part of the hash Django checks on each request, so
    bumping it invalidates every session at once, whatever the session backend.
    """
    user = request.user
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    record_for_user(AuditAction.SESSIONS_REVOKED, user, actor=user)
    logout(request)


@transaction.atomic
def password_changed(request, user: User) -> None:
    """Audit a password change and keep only this session alive (others end with the old hash)."""
    update_session_auth_hash(request, user)
    record_for_user(AuditAction.PASSWORD_CHANGED, user, actor=user)


def two_factor_added(user: User, device) -> None:
    """Audit a confirmed new second factor (authenticator app, phone, backup codes)."""
    record_for_user(AuditAction.TWO_FACTOR_ADDED, user, actor=user,
                    detail={"method": device_method(device)})


def two_factor_removed(user: User, method: str) -> None:
    """Audit a removed second factor."""
    record_for_user(AuditAction.TWO_FACTOR_REMOVED, user, actor=user, detail={"method": method})
