"""The permission check every campaigns service and selector starts with."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from accounts.roles import Perm


def require(actor, perm: Perm, obj=None) -> None:
    """403 unless ``actor`` may do ``perm`` (in ``obj``'s organisation when given)."""
    if actor is None:
        raise PermissionDenied("Sign in to an organisation first.")
    actor.require(perm, obj)


def audit_user_id(actor) -> int | None:
    return getattr(actor, "user_id", None)
