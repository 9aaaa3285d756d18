"""Forgotten passwords: ask for a link by e-mail, then set a new password through it.

- The request always answers the same way and does the same work in the request, whether or
  not the address has an account: the e-mail is built and sent by a background task.
- Links work once (the token covers the password hash) for PASSWORD_RESET_LINK_MAX_AGE_SECONDS.
- A reset signs the person out everywhere (session generation bumped) and never signs them in:
  the next sign-in asks for the password and, when they have one, the second factor.
- A reset does not lift a sign-in lockout: the pause still runs out on its own.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import ratelimit
from accounts.audit_hooks import _Anonymous, record_for_user
from accounts.email_address import canonical_email
from accounts.models import User
from accounts.outbox import queue_account_email
from accounts.tokens import password_reset_tokens
from audit import AuditAction


class ResetLinkInvalid(Exception):
    """The reset link is broken, expired or already used; the message says what to do."""


def request_password_reset(*, email: str, ip: str | None) -> None:
    """Queue a reset e-mail for `email` if it names an active account; raises RateLimited.

    Callers show the same answer whatever happens here (except a rate limit), so the page
    never tells whether an address has an account.
    """
    email = canonical_email(email)
    ratelimit.limit_password_reset(ip, email)
    user = User.objects.filter(email=email, is_active=True).only("pk").first()
    if user is not None:
        from accounts.tasks import send_password_reset_email

        user_id = user.pk
        # Queued, not sent here: an SMTP round trip only for known addresses would show in the timing.
        transaction.on_commit(lambda: queue_account_email(send_password_reset_email, user_id=user_id))


def reset_url(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = password_reset_tokens.make_token(user)
    return f"{settings.PUBLIC_BASE_URL}{reverse('password_reset_confirm', args=[uid, token])}"


@transaction.atomic
def send_reset_link(*, user_id: int) -> bool:
    """E-mail the user a fresh reset link and audit it (stage "link_sent"); False if no such active user."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    body = render_to_string("accounts/email/password_reset.txt", {
        "user": user, "url": reset_url(user),
        "minutes": settings.PASSWORD_RESET_LINK_MAX_AGE_SECONDS // 60,
    })
    # Whoever asked is anonymous: the address alone proves nothing until the link is used.
    record_for_user(AuditAction.PASSWORD_RESET, user, actor=_Anonymous(), detail={"stage": "link_sent"})
    email = user.email
    transaction.on_commit(lambda: send_mail("Reset your CareRelay password", body, None, [email]))
    return True


@transaction.atomic
def complete_password_reset(*, user: User, token: str, password: str) -> User:
    """Set a new password through a reset link; spends the link and signs the user out everywhere.

    The token is checked again under a row lock, so two submissions of one link cannot both win.
    Raises ResetLinkInvalid, or ValidationError when the password breaks the policy.
    """
    locked = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
    if locked is None or not password_reset_tokens.check_token(locked, token):
        raise ResetLinkInvalid(
            "This reset link has expired or was already used. Ask for a new one on the sign-in page.")
    validate_password(password, locked)
    locked.set_password(password)
    locked.save(update_fields=["password"])
    # Every other session (an attacker's, if the password leaked) ends now.
    User.objects.filter(pk=locked.pk).update(session_generation=F("session_generation") + 1)
    locked.refresh_from_db(fields=["session_generation"])
    record_for_user(AuditAction.PASSWORD_RESET, locked, actor=locked, detail={"stage": "completed"})
    return locked
