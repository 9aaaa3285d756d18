"""Signing in (password, then the second factor), failures, lockout after five, unlocking."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lockout import lockout_key
from accounts.models import Membership
from audit import AuditAction
from tests.accounts.conftest import actions, current_code, events, post_backup_code, post_password, post_token
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def test_an_owner_signs_in_with_password_then_totp_code_and_it_is_audited(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    client = Client()
    client.get("/login/")
    anonymous_key = client.session.session_key
    page = post_password(client, tenant_a.owner.email)
    assert page.status_code == 200 and 'name="token-otp_token"' in page.content.decode()
    assert "_auth_user_id" not in client.session  # not signed in after the password alone
    response = post_token(client, current_code(device))
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session.session_key != anonymous_key  # the session key is rotated at sign-in
    assert client.get("/").status_code == 200
    [event] = events(tenant_a.org, AuditAction.LOGIN_SUCCEEDED)
    assert event.detail == {"second_factor": "totp"}
    assert event.target_id == str(tenant_a.owner.pk)


def test_a_wrong_totp_code_does_not_sign_in(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    client = Client()
    post_password(client, tenant_a.owner.email)
    page = post_token(client, "000000")
    assert page.status_code == 200
    assert "_auth_user_id" not in client.session
    assert events(tenant_a.org, AuditAction.LOGIN_SUCCEEDED) == []


def test_a_wrong_password_says_so_and_is_audited_without_the_email(tenant_a):
    page = post_password(Client(), tenant_a.staff.email, "not-the-password")
    assert "That e-mail and password do not match" in page.content.decode()
    [event] = events(tenant_a.org, AuditAction.LOGIN_FAILED)
    assert event.actor_type == "anonymous"
    assert event.detail == {"known_user": True, "while_locked": False}
    assert tenant_a.staff.email not in str(event.detail)


def test_an_unknown_email_fails_into_the_platform_chain(db):
    post_password(Client(), "nobody@nowhere.test", "whatever-password")
    assert actions(None)[-1] == AuditAction.LOGIN_FAILED


def test_five_failures_lock_the_account_for_30_minutes_and_say_when_to_retry(tenant_a):
    client = Client()
    for _ in range(4):
        assert post_password(client, tenant_a.staff.email, "wrong-password-123").status_code == 200
    locked = post_password(client, tenant_a.staff.email, "wrong-password-123")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Sign-in paused for 30 minutes" in text and "try again in <strong" in text
    assert "30 minutes</strong>" in text
    # Even the right password is refused while locked, and the lock does not grow.
    again = post_password(client, tenant_a.staff.email, DEFAULT_PASSWORD)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
    # django-axes hears the fifth failure first, so the lock is recorded just before it.
    assert actions(tenant_a.org) == [AuditAction.LOGIN_FAILED] * 4 + [
        AuditAction.ACCOUNT_LOCKED, AuditAction.LOGIN_FAILED, AuditAction.LOGIN_FAILED]
    assert [e.detail["while_locked"] for e in events(tenant_a.org, AuditAction.LOGIN_FAILED)] == [
        False, False, False, False, True, True]
    [locked_event] = events(tenant_a.org, AuditAction.ACCOUNT_LOCKED)
    assert locked_event.detail == {"known_user": True, "failures": 5, "minutes": 30}


def test_lockout_records_keep_no_password(tenant_a):
    for _ in range(5):
        post_password(Client(), tenant_a.staff.email, "Sup3r-secret-typo")
    attempt = AccessAttempt.objects.get(username=lockout_key(tenant_a.staff.email))
    assert "Sup3r-secret-typo" not in attempt.post_data


def test_the_lock_is_per_address_another_ip_can_still_sign_in(tenant_a):
    for _ in range(5):
        post_password(Client(), tenant_a.staff.email, "wrong-password-123")
    other = Client(REMOTE_ADDR="10.0.0.9")
    response = post_password(other, tenant_a.staff.email)
    assert response.status_code == 302


def test_an_admin_unlocks_a_member_from_the_members_page_and_it_is_audited(tenant_a):
    for _ in range(5):
        post_password(Client(), tenant_a.staff.email, "wrong-password-123")
    admin = tenant_a.client_for("admin")
    page = admin.get("/org/members/").content.decode()
    assert 'data-testid="locked-badge"' in page
    membership = Membership.objects.get(user=tenant_a.staff, organization=tenant_a.org)
    admin.post(f"/org/members/{membership.pk}/unlock/")
    assert post_password(Client(), tenant_a.staff.email).status_code == 302
    [unlocked] = events(tenant_a.org, AuditAction.ACCOUNT_UNLOCKED)
    assert unlocked.actor_id == str(tenant_a.admin.pk)
    assert unlocked.detail["records_cleared"] == 1


def test_the_admin_unlock_action_works_too(tenant_a):
    for _ in range(5):
        post_password(Client(), tenant_a.viewer.email, "wrong-password-123")
    membership = Membership.objects.get(user=tenant_a.viewer, organization=tenant_a.org)
    tenant_a.client_for("owner").post("/admin/accounts/membership/", {
        "action": "unlock_sign_in", "_selected_action": [membership.pk]})
    assert not AccessAttempt.objects.filter(username=lockout_key(tenant_a.viewer.email)).exists()
    assert len(events(tenant_a.org, AuditAction.ACCOUNT_UNLOCKED)) == 1


# --- wrong second-factor codes count toward the same lockout ------------------------------------------

def test_a_wrong_code_is_audited_as_a_failed_sign_in_at_the_second_factor(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    client = Client()
    post_password(client, tenant_a.owner.email)
    post_token(client, "000000")
    [failed] = events(tenant_a.org, AuditAction.LOGIN_FAILED)
    assert failed.detail == {"stage": "second_factor"}
    assert failed.actor_type == "anonymous" and failed.target_id == str(tenant_a.owner.pk)
    assert AccessAttempt.objects.get(username=lockout_key(tenant_a.owner.email)).failures_since_start == 1


def test_five_wrong_codes_lock_sign_in_like_five_wrong_passwords(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    client = Client()
    post_password(client, tenant_a.owner.email)
    for _ in range(4):
        assert post_token(client, "000000").status_code == 200
    locked = post_token(client, "000000")
    assert locked.status_code == 429 and "Sign-in paused for 30 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Even the right password and then the right code are refused while the lock lasts.
    assert post_password(client, tenant_a.owner.email).status_code == 429
    assert "_auth_user_id" not in client.session
    assert actions(tenant_a.org)[:6] == [AuditAction.LOGIN_FAILED] * 4 + [
        AuditAction.ACCOUNT_LOCKED, AuditAction.LOGIN_FAILED]
    assert events(tenant_a.org, AuditAction.ACCOUNT_LOCKED)[0].detail["failures"] == 5
    assert events(tenant_a.org, AuditAction.LOGIN_SUCCEEDED) == []
    device.refresh_from_db()


def test_wrong_backup_codes_count_too(tenant_a):
    from django_otp.plugins.otp_static.models import StaticDevice

    TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    StaticDevice.objects.create(user=tenant_a.owner, name="backup").token_set.create(token="abcd1234")
    client = Client()
    post_password(client, tenant_a.owner.email)
    client.post("/login/", {"login_view-current_step": "token", "wizard_goto_step": "backup"})
    for _ in range(5):
        response = post_backup_code(client, "wrong999")
    assert response.status_code == 429
    assert [e.detail for e in events(tenant_a.org, AuditAction.LOGIN_FAILED)][:5] == [
        {"stage": "second_factor"}] * 5


def test_a_lock_from_elsewhere_stops_a_code_step_already_open(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    waiting = Client()
    post_password(waiting, tenant_a.owner.email)  # password right, code page open
    for _ in range(5):
        post_password(Client(), tenant_a.owner.email, "wrong-password-123")  # same network
    # The right code is not even checked while the e-mail is locked for this address.
    response = post_token(waiting, current_code(device))
    assert response.status_code == 429
    assert "_auth_user_id" not in waiting.session
    assert events(tenant_a.org, AuditAction.LOGIN_FAILED)[-1].detail == {
        "stage": "second_factor", "while_locked": True}
    # The half-finished sign-in is dropped: the page starts again at the password.
    assert 'name="auth-username"' in waiting.get("/login/").content.decode()


def test_a_right_code_after_wrong_ones_signs_in_and_clears_the_count(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    client = Client()
    post_password(client, tenant_a.owner.email)
    post_token(client, "000000")
    device.refresh_from_db()
    device.throttling_failure_count = 0  # django-otp's own per-device delay is not under test here
    device.throttling_failure_timestamp = None
    device.save()
    assert post_token(client, current_code(device)).status_code == 302
    assert not AccessAttempt.objects.filter(username=lockout_key(tenant_a.owner.email)).exists()
