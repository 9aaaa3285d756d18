"""Sign-in events from Django and django-axes, turned into audit events and session stamps.

A person's sign-in events are recorded in the chain of every organisation they belong to,
so each organisation's admins see them; an e-mail matching nobody goes to the platform chain.
The typed e-mail is never stored (audit detail holds identifiers only).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed

import audit
from audit import AuditAction

SESSION_AUTH_STARTED = "auth_started_at"
SESSION_LAST_SEEN = "last_seen_at"
# An anonymous session that just submitted the sign-up form: {"user_id": id or None, "email": str}.
SESSION_SIGNUP_PENDING = "signup_pending"


def record_for_user(action: AuditAction, user, *, actor=None, detail: dict | None = None) -> None:
    """Record `action` about `user` in each of their organisations' chains (platform chain if none)."""
    from accounts.models import Membership

    org_ids = list(
        Membership.objects.filter(user=user).values_list("organization_id", flat=True)
    ) if user is not None else []
    if not org_ids:
        audit.record(action, organization=None, target=user, actor=actor, detail=detail)
        return
    for org_id in org_ids:
        audit.record(action, organization=org_id, target=user, actor=actor, detail=detail)


def _user_for_email(email: str):
    from accounts.models import User

    if not email:
        return None
    from accounts.email_address import canonical_email

    return User.objects.filter(email=canonical_email(email)).first()


def _on_login_failed(sender, credentials=None, request=None, **kwargs):
    from accounts.lockout import account_failures, typed_email

    email = typed_email(request, credentials)
    user = _user_for_email(email)
    locked = bool(getattr(request, "axes_locked_out", False))
    if (credentials or {}).get("stage") == "second_factor":
        # A code after a right password (accounts.views.auth.LoginView): wrong, or refused unchecked
        # because the e-mail was already locked for this address ("refused_locked").
        detail = {"stage": "second_factor"}
        if credentials.get("refused_locked"):
            detail["while_locked"] = True
    else:
        detail = {"known_user": user is not None, "while_locked": locked}
    # The failure comes from an anonymous visitor, whatever e-mail they typed.
    record_for_user(AuditAction.LOGIN_FAILED, user, actor=_Anonymous(), detail=detail)
    if not locked and email and account_failures(email) == settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT:
        # This failure locked the account from every address (accounts.lockout's per-account limit).
        record_for_user(AuditAction.ACCOUNT_LOCKED, user, actor=_Anonymous(), detail={
            "known_user": user is not None, "failures": settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT,
            "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60), "every_address": True})


def _on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    # Axes signals on the failure that locks and again on every try during the lock; only the
    # locking failure has counted failures on the request (axes sets None on the others).
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    from accounts.lockout import typed_email

    # Axes names the account by its lockout key (a hash); the credentials still hold the e-mail.
    user = _user_for_email(typed_email(None, getattr(request, "axes_credentials", None)))
    record_for_user(
        AuditAction.ACCOUNT_LOCKED, user, actor=_Anonymous(),
        detail={"known_user": user is not None, "failures": request.axes_failures_since_start,
                "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
    )


def _on_logged_in(sender, request=None, user=None, **kwargs):
    # Stamps for the absolute lifetime and idle timeout (accounts.access_middleware).
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SESSION_AUTH_STARTED] = now
        request.session[SESSION_LAST_SEEN] = now
        # A visitor who signed up and then signed in is no longer "waiting for the e-mail".
        request.session.pop(SESSION_SIGNUP_PENDING, None)


class _Anonymous:
    is_authenticated = False
    pk = None


def connect() -> None:
    """Connect the receivers (AccountsConfig.ready)."""
    from axes.signals import user_locked_out

    user_login_failed.connect(_on_login_failed, dispatch_uid="accounts.audit_login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="accounts.audit_locked_out")
    user_logged_in.connect(_on_logged_in, dispatch_uid="accounts.session_stamps")
