"""Regression tests for the accounts review: each failed before its fix."""

from __future__ import annotations

import logging
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts.models import Invitation, Membership
from accounts.roles import Role
from accounts.signup import email_verification_tokens
from tests.accounts.conftest import post_password
from tests.conftest import otp_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _verification_link(user, *, age_seconds: int) -> str:
    tokens = email_verification_tokens
    timestamp = tokens._num_seconds(tokens._now()) - age_seconds
    token = tokens._make_token_with_timestamp(user, timestamp, tokens.secret)
    return f"/verify-email/{urlsafe_base64_encode(force_bytes(user.pk))}/{token}/"


# 1. EmailVerificationTokenGenerator set `self.timeout`, which Django never reads: verification
#    links lived for PASSWORD_RESET_TIMEOUT instead of EMAIL_VERIFICATION_MAX_AGE_SECONDS.
def test_verification_links_obey_their_own_lifetime_not_the_password_reset_one(settings):
    user = UserFactory(email="new@owner.test", email_verification_required=True)
    settings.PASSWORD_RESET_TIMEOUT = 60 * 60
    settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS = 3 * 24 * 3600
    assert Client().get(_verification_link(user, age_seconds=2 * 3600)).status_code == 302
    other = UserFactory(email="new2@owner.test", email_verification_required=True)
    settings.PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
    settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS = 60 * 60
    assert Client().get(_verification_link(other, age_seconds=2 * 3600)).status_code == 400
    other.refresh_from_db()
    assert other.email_verified_at is None


# 2. For an already-verified user, any token answered "confirmed": a stranger could walk user ids
#    and learn which exist and are verified.
def test_a_made_up_link_for_a_verified_user_is_refused_but_a_second_click_on_the_real_one_is_fine():
    user = UserFactory(email="done@owner.test", email_verification_required=True)
    real = _verification_link(user, age_seconds=10)
    assert Client().get(real).status_code == 302
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    assert Client().get(f"/verify-email/{uid}/abc-0123456789abcdef/").status_code == 400
    assert Client().get(real).status_code == 302  # the real link, clicked again


# 3. With optional 2FA (staff), a session opened before the second factor was added kept working
#    without ever passing it.
def test_a_session_from_before_the_second_factor_must_sign_in_again_even_where_it_is_optional(tenant_a):
    old_session = tenant_a.client_for("staff")
    assert old_session.get("/").status_code == 200
    TOTPDevice.objects.create(user=tenant_a.staff, name="default", confirmed=True)
    response = old_session.get("/", follow=True)
    assert "sign in again with your verification code" in response.content.decode()
    assert "_auth_user_id" not in old_session.session
    # A session that passed the factor is unaffected.
    verified = tenant_a.client_for("staff", otp_verified=True)
    assert verified.get("/").status_code == 200


# 4. django-axes logged the typed e-mail on every failure (and people paste passwords there).
def test_failed_sign_ins_never_log_what_was_typed_in_the_email_field(tenant_a, caplog):
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            post_password(Client(), "Correct-Horse-Pasted-In-Email@x.test", "wrong-password-123")
        post_password(Client(), tenant_a.staff.email, "wrong-password-123")
    logged = caplog.text.lower()
    assert "correct-horse-pasted-in-email" not in logged
    assert tenant_a.staff.email not in logged
    assert "account:" in logged  # still traceable, by a keyed hash


def _invite_link(tenant, client, role, email, capture) -> str:
    with capture(execute=True):
        client.post("/org/members/invite/", {"email": email, "role": role})
    return re.search(r"https?://\S+", mail.outbox[-1].body).group(0).split("8000", 1)[-1]


# 5. An owner invitation outlived its sender's demotion: the link still made its holder an owner.
def test_an_invitation_stops_working_when_its_sender_may_no_longer_send_it(
        tenant_a, django_capture_on_commit_callbacks):
    second_owner = UserFactory(email="owner2@org-a.test")
    Membership.objects.create(user=second_owner, organization=tenant_a.org, role=Role.OWNER)
    inviter = Client()
    inviter.force_login(second_owner)
    otp_verify(inviter, second_owner)
    link = _invite_link(tenant_a, inviter, "owner", "future-owner@x.test", django_capture_on_commit_callbacks)
    # The first owner demotes the sender to staff.
    membership = Membership.objects.get(user=second_owner, organization=tenant_a.org)
    tenant_a.client_for("owner").post(f"/org/members/{membership.pk}/role/", {"role": "staff"})
    page = Client().post(link, {"full_name": "Future Owner", "password1": "a-long-enough-passphrase",
                                "password2": "a-long-enough-passphrase"})
    assert page.status_code == 410 and "can no longer invite" in page.content.decode()
    assert not Membership.objects.filter(user__email="future-owner@x.test").exists()


# 6. Accepting an invitation while signed in proved the address but left it "unverified", so a
#    self-signed-up person stayed stuck on "check your inbox" in the organisation they just joined.
def test_accepting_while_signed_in_confirms_the_address(tenant_a, django_capture_on_commit_callbacks):
    person = UserFactory(email="selfsigned@x.test", email_verification_required=True)
    link = _invite_link(tenant_a, tenant_a.client_for("admin"), "staff", person.email,
                        django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(person)
    assert client.get("/").headers["Location"] == "/verify-email/"
    assert client.post(link).status_code == 302
    person.refresh_from_db()
    assert person.email_verified_at is not None
    assert client.get("/").status_code == 200
    with scopes_disabled():
        assert Invitation.objects.get().accepted_at <= timezone.now()


# Already safe (kept as a regression test): `next` never leads off-site.
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(tenant_a, target):
    client = Client()
    response = client.post(f"/login/?next={target}", {
        "login_view-current_step": "auth", "auth-username": tenant_a.staff.email,
        "auth-password": "correct-horse-battery-staple"})
    assert response.status_code == 302 and response["Location"] == "/"
