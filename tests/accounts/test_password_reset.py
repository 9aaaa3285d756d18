"""Forgotten password: same answer for every address, single-use expiring links, sessions ended,
the second factor still asked, rate limits."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.tokens import password_reset_tokens
from audit import AuditAction
from tests.accounts.conftest import current_code, events, post_password, post_token
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-brand-new-passphrase-77"


def _ask(client: Client, email: str, capture, **extra):
    with capture(execute=True):
        return client.post("/password/reset/", {"email": email}, **extra)


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0).split("8000", 1)[-1]


def _set_password(client: Client, link: str, password: str = NEW_PASSWORD):
    page = client.get(link)  # moves the token into the session, then redirects to .../set-password/
    assert page.status_code == 302, page.status_code
    form_url = page["Location"]
    return client.post(form_url, {"new_password1": password, "new_password2": password}), form_url


def test_the_request_page_answers_the_same_for_known_and_unknown_addresses(
        tenant_a, django_capture_on_commit_callbacks):
    known = _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    unknown = _ask(Client(), "nobody@nowhere.test", django_capture_on_commit_callbacks)
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == "/password/reset/sent/"
    page = Client().get(known["Location"]).content.decode()
    assert "If an account exists for that address, we sent it a link" in page
    [message] = mail.outbox  # only the real account gets an e-mail
    assert message.to == [tenant_a.staff.email]


def test_known_and_unknown_addresses_take_the_same_path_no_mail_is_sent_in_the_request(
        tenant_a, django_capture_on_commit_callbacks):
    # The e-mail is built and sent by a task after the response, never inside the request.
    with mock.patch("accounts.tasks.send_password_reset_email.delay") as delay, \
            mock.patch("django.core.mail.send_mail") as send:
        _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
        _ask(Client(), "nobody@nowhere.test", django_capture_on_commit_callbacks)
    delay.assert_called_once_with(user_id=tenant_a.staff.pk)
    send.assert_not_called()


def test_a_reset_sets_the_password_ends_every_session_and_is_audited(
        tenant_a, django_capture_on_commit_callbacks):
    laptop = tenant_a.client_for("staff")
    _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    response, _ = _set_password(Client(), _link(mail.outbox[-1]))
    assert response.status_code == 302 and response["Location"] == "/password/reset/complete/"
    assert laptop.get("/").status_code == 302  # the old session is gone
    assert post_password(Client(), tenant_a.staff.email, DEFAULT_PASSWORD).status_code == 200  # old refused
    signed_in = Client()
    assert post_password(signed_in, tenant_a.staff.email, NEW_PASSWORD).status_code == 302
    assert [e.detail for e in events(tenant_a.org, AuditAction.PASSWORD_RESET)] == [
        {"stage": "link_sent"}, {"stage": "completed"}]


def test_the_link_works_once(tenant_a, django_capture_on_commit_callbacks):
    _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    link = _link(mail.outbox[-1])
    _set_password(Client(), link)
    again = Client().get(link)
    assert again.status_code == 400 and "Ask for a new link" in again.content.decode()


def test_the_link_expires_after_an_hour(tenant_a, django_capture_on_commit_callbacks):
    _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    link = _link(mail.outbox[-1])
    later = timezone.now() + timedelta(hours=1, minutes=1)
    with mock.patch.object(password_reset_tokens, "_now", return_value=later.replace(tzinfo=None)):
        page = Client().get(link)
    assert page.status_code == 400
    user = User.objects.get(pk=tenant_a.staff.pk)
    assert user.check_password(DEFAULT_PASSWORD)


def test_the_new_password_follows_the_12_character_policy(tenant_a, django_capture_on_commit_callbacks):
    _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    response, _ = _set_password(Client(), _link(mail.outbox[-1]), "short-pw")
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert User.objects.get(pk=tenant_a.staff.pk).check_password(DEFAULT_PASSWORD)


def test_a_reset_never_skips_the_second_factor(tenant_a, django_capture_on_commit_callbacks):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    _ask(Client(), tenant_a.owner.email, django_capture_on_commit_callbacks)
    client = Client()
    _set_password(client, _link(mail.outbox[-1]))
    assert "_auth_user_id" not in client.session  # the reset did not sign anyone in
    page = post_password(client, tenant_a.owner.email, NEW_PASSWORD)
    assert page.status_code == 200 and 'name="token-otp_token"' in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert post_token(client, current_code(device)).status_code == 302


def test_an_older_link_stops_working_after_sign_out_everywhere(tenant_a, django_capture_on_commit_callbacks):
    _ask(Client(), tenant_a.staff.email, django_capture_on_commit_callbacks)
    link = _link(mail.outbox[-1])
    tenant_a.client_for("staff").post("/account/sign-out-everywhere/")
    assert Client().get(link).status_code == 400


@pytest.mark.parametrize("over", ["ip", "email"])
def test_reset_requests_are_rate_limited_per_address_and_per_email(
        tenant_a, settings, over, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT_PER_IP = (4, 3600)
    settings.PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = (2, 3600)
    client = Client(REMOTE_ADDR="198.51.100.4")
    emails = ([f"someone{n}@x.test" for n in range(4)] if over == "ip"
              else [tenant_a.staff.email, tenant_a.staff.email])
    for email in emails:
        assert _ask(client, email, django_capture_on_commit_callbacks).status_code == 302
    refused = _ask(client, tenant_a.staff.email, django_capture_on_commit_callbacks)
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Try again in 60 minutes" in text or "try again in 60 minutes" in text
    assert len(mail.outbox) == (0 if over == "ip" else 2)  # the refused request sent nothing


def test_the_rate_limit_on_one_email_says_the_same_for_unknown_addresses(
        settings, db, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = (1, 3600)
    client = Client()
    _ask(client, "ghost@nowhere.test", django_capture_on_commit_callbacks)
    refused = _ask(client, "ghost@nowhere.test", django_capture_on_commit_callbacks)
    assert refused.status_code == 429 and "We already sent several reset links" in refused.content.decode()


def test_the_sign_in_page_offers_the_reset(db):
    assert 'href="/password/reset/"' in Client().get("/login/").content.decode()
