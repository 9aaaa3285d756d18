"""Self-service sign-up (a new organisation with its first owner) and e-mail verification."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

import audit
from accounts import ratelimit
from accounts.audit_hooks import record_for_user
from accounts.email_address import canonical_email
from accounts.models import User
from accounts.outbox import queue_account_email
from accounts.services import create_organization
from accounts.tokens import MaxAgeTokenGenerator
from audit import AuditAction


class EmailVerificationTokenGenerator(MaxAgeTokenGenerator):
    """Tokens valid for EMAIL_VERIFICATION_MAX_AGE_SECONDS that stop working once the e-mail is verified."""

    key_salt = "accounts.signup.EmailVerificationTokenGenerator"

    def max_age_seconds(self) -> int:
        return settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


email_verification_tokens = EmailVerificationTokenGenerator()


class VerificationLinkInvalid(Exception):
    """The verification link is broken, expired or already used; the message says what to do."""


@transaction.atomic
def sign_up(*, email: str, password: str, full_name: str,
            organization_name: str) -> User | None:
    """Create a user and a new organisation owned by them, and e-mail a verification link.

    When the address already has an account, nothing is created: its owner is e-mailed a notice
    instead and None is returned. Callers answer both cases with the same "check your inbox"
    page, so sign-up never reveals which addresses have accounts. The password is checked and
    hashed in both cases: the same errors, and about the same time.
    """
    email = canonical_email(email)
    user = User(email=email, full_name=full_name.strip(), email_verification_required=True)
    validate_password(password, user)
    existing = User.objects.filter(email=email).only("pk").first()
    if existing is not None:
        make_password(password)  # the hashing a real sign-up does, so both answers take as long
        from accounts.tasks import send_signup_attempt_notice as notice_task

        existing_id = existing.pk
        # At most a few notices an hour per address: sign-up cannot be used to flood a mailbox.
        if ratelimit.count_attempt("signup-notice", email, ratelimit.Limit(3, 60 * 60)) is None:
            transaction.on_commit(lambda: queue_account_email(notice_task, user_id=existing_id))
        return None
    user.set_password(password)
    user.save()
    organization = create_organization(name=organization_name.strip(), owner=user)
    audit.record(AuditAction.SIGNED_UP, organization=organization, actor=user, target=user)
    send_verification_email(user)
    return user


def send_signup_attempt_notice(*, user_id: int) -> None:
    """E-mail an existing account that someone tried to sign up with its address (no account is made)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    body = render_to_string("accounts/email/signup_existing_account.txt", {
        "user": user,
        "login_url": f"{settings.PUBLIC_BASE_URL}{reverse('login')}",
        "reset_url": f"{settings.PUBLIC_BASE_URL}{reverse('password_reset')}",
    })
    send_mail("Someone tried to create a CareRelay account with your e-mail", body, None, [user.email])


def verification_url(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = email_verification_tokens.make_token(user)
    return f"{settings.PUBLIC_BASE_URL}{reverse('verify_email', args=[uid, token])}"


def send_verification_email(user: User) -> None:
    """E-mail `user` a link that proves the address (sent after the surrounding transaction commits)."""
    body = render_to_string("accounts/email/verify_email.txt", {
        "user": user, "url": verification_url(user),
        "days": settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // 86400,
    })
    transaction.on_commit(lambda: send_mail("Confirm your e-mail for CareRelay", body, None, [user.email]))


@transaction.atomic
def verify_email(*, uidb64: str, token: str) -> User:
    """Mark the e-mail of the user the link names as verified; raises VerificationLinkInvalid."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        pk = None
    user = User.objects.select_for_update().filter(pk=pk).first() if pk else None
    invalid = VerificationLinkInvalid(
        "This confirmation link is not valid, has expired or was replaced by a newer one. Sign in "
        "and ask for a new one.")
    if user is None:
        raise invalid
    if user.email_verified_at is not None:
        # A second click on a used link is fine, but only with the real link: the token was made
        # before verification, so check it against that state. Without this check any user id
        # answered "confirmed", telling strangers which ids exist and are verified.
        before = User(pk=user.pk, email=user.email, email_verified_at=None)
        if not email_verification_tokens.check_token(before, token):
            raise invalid
        return user
    if not email_verification_tokens.check_token(user, token):
        raise invalid
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    record_for_user(AuditAction.EMAIL_VERIFIED, user, actor=user)
    return user
