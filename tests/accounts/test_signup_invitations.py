"""Sign-up with e-mail verification; invitations that work once, for 72 hours."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.models import Invitation, Membership, Organization, User
from accounts.roles import Role
from audit import AuditAction
from tests.accounts.conftest import actions, events
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db
SIGNUP = {"full_name": "Dana Reyes", "email": "Dana@NewClinic.test", "organization_name": "New Clinic",
          "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase"}


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0).split("8000", 1)[-1]


def test_sign_up_creates_the_owner_and_organisation_and_asks_for_the_email(
        django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/signup/", SIGNUP)
    assert response.status_code == 302 and response["Location"] == "/verify-email/"
    user = User.objects.get(email="dana@newclinic.test")
    org = Organization.objects.get(name="New Clinic")
    assert Membership.objects.get(user=user, organization=org).role == Role.OWNER
    # Nothing else opens until the e-mail is confirmed.
    assert client.get("/").headers["Location"] == "/verify-email/"
    [message] = mail.outbox
    assert message.to == ["dana@newclinic.test"]
    client.get(_link(message))
    user.refresh_from_db()
    assert user.email_verified_at is not None
    # Next: the owner must set up two-factor authentication.
    assert client.get("/").headers["Location"] == "/account/two_factor/setup/"
    assert actions(org) == [
        AuditAction.ORGANIZATION_CREATED, AuditAction.SUBSCRIPTION_STARTED,  # billing: the trial
        AuditAction.SIGNED_UP, AuditAction.EMAIL_VERIFIED]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("password1", "short", "at least 12 characters"),
    ("password1", "password1234", "too common"),
    ("email", "not-an-email", "Enter a valid email address"),
])
def test_sign_up_errors_say_what_to_fix(field, value, message):
    data = {**SIGNUP, field: value}
    if field == "password1":
        data["password2"] = value
    page = Client().post("/signup/", data)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not User.objects.filter(email="dana@newclinic.test").exists()


def test_signing_up_with_an_existing_email_answers_like_a_new_one_and_points_the_owner_to_sign_in(
        tenant_a, django_capture_on_commit_callbacks):
    # Was: the form said "already exists. Sign in instead", which told anyone which addresses have
    # accounts. Now the page is the same as for a new address; the pointer to sign in goes by e-mail.
    new, existing = Client(), Client()
    with django_capture_on_commit_callbacks(execute=True):
        fresh = new.post("/signup/", SIGNUP)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        taken = existing.post("/signup/", {**SIGNUP, "email": tenant_a.staff.email.upper()})
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    assert existing.get("/").headers["Location"] == new.get("/").headers["Location"] == "/verify-email/"
    inbox_new = new.get("/verify-email/").content.decode().replace("dana@newclinic.test", "EMAIL")
    inbox_existing = existing.get("/verify-email/").content.decode().replace(tenant_a.staff.email, "EMAIL")
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|data-csrf="[^"]+"')
    assert strip.sub("", inbox_new) == strip.sub("", inbox_existing)
    [notice] = mail.outbox
    assert notice.to == [tenant_a.staff.email]
    assert "already have an account" in notice.body and "/login/" in notice.body
    assert "/password/reset/" in notice.body
    with scopes_disabled():
        assert Organization.objects.filter(name="New Clinic").count() == 1  # only the real sign-up's
    assert "_auth_user_id" not in existing.session


def test_sign_up_is_rate_limited_per_address_and_says_when_to_retry(settings):
    settings.SIGNUP_RATE_LIMIT_PER_IP = (2, 3600)
    client = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(2):
        assert client.post("/signup/", {**SIGNUP, "email": f"owner{n}@ratelimit.test"}).status_code == 302
    refused = client.post("/signup/", {**SIGNUP, "email": "owner9@ratelimit.test"})
    assert refused.status_code == 429
    assert "Try again in 60 minutes" in refused.content.decode()
    assert not User.objects.filter(email="owner9@ratelimit.test").exists()
    # Another network is not affected.
    assert Client(REMOTE_ADDR="203.0.113.8").post(
        "/signup/", {**SIGNUP, "email": "owner9@ratelimit.test"}).status_code == 302


def test_a_broken_verification_link_explains_what_to_do(db):
    page = Client().get("/verify-email/MQ/bad-token/")
    assert page.status_code == 400 and "ask for a new one" in page.content.decode()


def _invite(tenant, email="newnurse@x.test", role="staff", *, capture):
    with capture(execute=True):
        tenant.client_for("admin").post("/org/members/invite/", {"email": email, "role": role})
    return mail.outbox[-1]


def test_an_invitation_creates_the_account_once_and_only_once(tenant_a, django_capture_on_commit_callbacks):
    message = _invite(tenant_a, capture=django_capture_on_commit_callbacks)
    link = _link(message)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    with scopes_disabled():
        invitation = Invitation.objects.get()
    assert invitation.token_hash != token and token not in invitation.token_hash  # only the hash is kept
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)
    client = Client()
    assert client.get(link).status_code == 200
    response = client.post(link, {"full_name": "New Nurse", "password1": "a-long-enough-passphrase",
                                  "password2": "a-long-enough-passphrase"})
    assert response.status_code == 302
    user = User.objects.get(email="newnurse@x.test")
    assert user.email_verified_at is not None
    assert Membership.objects.get(user=user, organization=tenant_a.org).role == Role.STAFF
    assert client.get("/").status_code == 200
    again = Client().get(link)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert actions(tenant_a.org)[-2:] == [AuditAction.INVITATION_SENT, AuditAction.INVITATION_ACCEPTED]


def test_an_expired_invitation_is_refused(tenant_a, django_capture_on_commit_callbacks):
    link = _link(_invite(tenant_a, capture=django_capture_on_commit_callbacks))
    with scopes_disabled():
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = Client().post(link, {"full_name": "Late", "password1": "a-long-enough-passphrase",
                                "password2": "a-long-enough-passphrase"})
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert not User.objects.filter(email="newnurse@x.test").exists()


def test_a_withdrawn_invitation_is_refused(tenant_a, django_capture_on_commit_callbacks):
    link = _link(_invite(tenant_a, capture=django_capture_on_commit_callbacks))
    with scopes_disabled():
        invitation = Invitation.objects.get()
    tenant_a.client_for("admin").post(f"/org/invitations/{invitation.pk}/revoke/")
    assert Client().get(link).status_code == 410
    assert events(tenant_a.org, AuditAction.INVITATION_REVOKED)


def test_an_existing_user_signs_in_and_is_attached(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    link = _link(_invite(tenant_a, email=tenant_b.staff.email, role="viewer",
                         capture=django_capture_on_commit_callbacks))
    anonymous = Client().get(link).content.decode()
    assert "already have a CareRelay account" in anonymous
    client = tenant_b.client_for("staff")
    assert client.post(link).status_code == 302
    assert Membership.objects.get(user=tenant_b.staff, organization=tenant_a.org).role == Role.VIEWER


def test_an_invitation_for_someone_else_is_not_accepted_by_the_signed_in_user(
        tenant_a, tenant_b, django_capture_on_commit_callbacks):
    link = _link(_invite(tenant_a, capture=django_capture_on_commit_callbacks))
    client = tenant_b.client_for("staff")
    assert "for another address" in client.get(link).content.decode()
    client.post(link)
    assert not Membership.objects.filter(user=tenant_b.staff, organization=tenant_a.org).exists()


def test_only_owners_invite_owners(tenant_a):
    response = tenant_a.client_for("admin").post(
        "/org/members/invite/", {"email": "boss@x.test", "role": "owner"})
    assert response.status_code == 400
    with scopes_disabled():
        assert not Invitation.objects.exists()


def test_inviting_a_current_member_says_to_change_their_role(tenant_a):
    page = tenant_a.client_for("admin").post("/org/members/invite/", {"email": tenant_a.viewer.email,
                                                                     "role": "staff"})
    assert "already a member" in page.content.decode()


def test_invited_admins_must_set_up_2fa_first(tenant_a, django_capture_on_commit_callbacks):
    link = _link(_invite(tenant_a, email="newadmin@x.test", role="admin",
                         capture=django_capture_on_commit_callbacks))
    client = Client()
    client.post(link, {"full_name": "New Admin", "password1": "a-long-enough-passphrase",
                       "password2": "a-long-enough-passphrase"})
    assert client.get("/").headers["Location"] == "/account/two_factor/setup/"
    assert DEFAULT_PASSWORD  # the personas' password is untouched by invitations
