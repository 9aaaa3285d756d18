"""The platform operators' cross-organisation view: explicit, per session, audited.

A superuser works inside their active organisation like anyone else. Only after entering the
platform view (a POST from the account security page) does the tenant middleware lift the
scope, and then every page shows a banner with a button to leave.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

import audit
from accounts.middleware import SESSION_PLATFORM_VIEW
from audit import AuditAction


def platform_view_active(request) -> bool:
    """Whether this request sees every organisation's rows (superuser, OTP-verified, flag set)."""
    user = getattr(request, "user", None)
    return bool(
        user is not None and user.is_authenticated and user.is_superuser
        and hasattr(user, "is_verified") and user.is_verified()
        and request.session.get(SESSION_PLATFORM_VIEW)
    )


@transaction.atomic
def enter_platform_view(*, actor, session) -> None:
    """Turn the platform view on for this session and audit it (PLATFORM_VIEW_ENTERED)."""
    if not (actor.is_authenticated and actor.is_superuser):
        raise PermissionDenied("Only platform operators can see every organisation's records.")
    if not (hasattr(actor, "is_verified") and actor.is_verified()):
        raise PermissionDenied("Sign in again with your second factor before entering the platform view.")
    # Recorded in the chain of the organisation the operator was working in (the platform chain if none).
    audit.record(AuditAction.PLATFORM_VIEW_ENTERED, actor=actor, target=actor)
    session[SESSION_PLATFORM_VIEW] = True


def leave_platform_view(*, session) -> None:
    """Turn the platform view off: back to the active organisation's rows only. Anyone may leave."""
    session.pop(SESSION_PLATFORM_VIEW, None)
