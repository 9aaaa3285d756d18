"""Self-service sign-up (a new organisation with its first owner) and e-mail verification."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

import audit
from accounts.audit_hooks import record_for_user
from accounts.models import Organization, User
from accounts.services import create_organization
from audit import AuditAction


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Tokens valid for EMAIL_VERIFICATION_MAX_AGE_SECONDS that stop working once the e-mail is verified."""

    key_salt = "accounts.signup.EmailVerificationTokenGenerator"

    def __init__(self):
        super().__init__()
        self.timeout = settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


email_verification_tokens = EmailVerificationTokenGenerator()


class VerificationLinkInvalid(Exception):
    """The verification link is broken, expired or already used; the message says what to do."""


@transaction.atomic
def sign_up(*, email: str, password: str, full_name: str,
            organization_name: str) -> tuple[User, Organization]:
    """Create a user and a new organisation owned by them, and e-mail a verification link."""
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            "An account with this e-mail already exists. Sign in instead, or ask your clinic's "
            "administrator to invite you.", code="email_taken")
    user = User(email=email, full_name=full_name.strip(), email_verification_required=True)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    organization = create_organization(name=organization_name.strip(), owner=user)
    audit.record(AuditAction.SIGNED_UP, organization=organization, actor=user, target=user)
    send_verification_email(user)
    return user, organization


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
    if user is None:
        raise VerificationLinkInvalid("This confirmation link is not valid. Sign in and ask for a new one.")
    if user.email_verified_at is not None:
        return user  # a second click on a used link: nothing to do, and nothing to fear
    if not email_verification_tokens.check_token(user, token):
        raise VerificationLinkInvalid(
            "This confirmation link has expired or was replaced by a newer one. Sign in and ask "
            "for a new one.")
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    record_for_user(AuditAction.EMAIL_VERIFIED, user, actor=user)
    return user
