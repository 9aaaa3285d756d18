"""With Redis unreachable, sign-up and password reset still answer (issue 15.6, accounts' half).

The e-mails whose task cannot be queued are kept (accounts.outbox) and sent by the sweeper
(`accounts.send_pending_emails`) once the broker is back; rate limits count in-process meanwhile.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client, override_settings

from accounts.models import PendingEmail, User
from accounts.tasks import send_pending_emails
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
SIGNUP = {"full_name": "Dana Reyes", "email": "dana@newclinic.test", "organization_name": "New Clinic",
          "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase"}


@pytest.fixture
def broker_down():
    """The broker and the shared cache both point at a port nobody listens on."""
    from config.celery import app

    old = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app.conf.task_always_eager = False
    app.conf.broker_url = NOWHERE
    app._pool = app.amqp._producer_pool = None  # new connections, to the unreachable broker
    unreachable = override_settings(CACHES={"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": NOWHERE}})
    with unreachable:
        yield
    app.conf.broker_url, app._pool, app.amqp._producer_pool = old
    app.conf.task_always_eager = True


def test_password_reset_answers_and_the_email_is_sent_when_the_broker_is_back(
        tenant_a, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/password/reset/", {"email": tenant_a.staff.email})
    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    [pending] = PendingEmail.objects.all()
    assert pending.task_name == "accounts.send_password_reset_email" and pending.user_id == tenant_a.staff.pk
    assert mail.outbox == []
    # The broker is back: the sweeper sends it, once.
    with django_capture_on_commit_callbacks(execute=True):
        assert send_pending_emails.run() == 1
    [message] = mail.outbox
    assert message.to == [tenant_a.staff.email] and re.search(r"/password/reset/\S+/\S+/", message.body)
    assert not PendingEmail.objects.exists()
    assert send_pending_emails.run() == 0


def test_password_reset_for_an_unknown_address_answers_the_same(
        broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/password/reset/", {"email": "nobody@nowhere.test"})
    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    assert not PendingEmail.objects.exists()


def test_sign_up_answers_and_sends_its_confirmation(broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/signup/", SIGNUP)
    assert response.status_code == 302 and response["Location"] == "/verify-email/"
    assert User.objects.filter(email="dana@newclinic.test").exists()
    [message] = mail.outbox  # the confirmation is sent after commit, without the broker
    assert message.to == ["dana@newclinic.test"]


def test_sign_up_with_a_taken_address_keeps_the_notice_for_the_sweeper(
        tenant_a, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/signup/", {**SIGNUP, "email": tenant_a.staff.email})
    assert response.status_code == 302 and response["Location"] == "/verify-email/"
    assert PendingEmail.objects.get().task_name == "accounts.send_signup_attempt_notice"
    with django_capture_on_commit_callbacks(execute=True):
        assert send_pending_emails.run() == 1
    assert mail.outbox[0].to == [tenant_a.staff.email]


def test_rate_limits_still_hold_while_the_cache_is_down(
        broker_down, settings, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = (2, 3600)
    client = Client()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post("/password/reset/", {"email": "x@limit.test"}).status_code == 302
    refused = client.post("/password/reset/", {"email": "x@limit.test"})
    assert refused.status_code == 429 and "try again in" in refused.content.decode()


def test_resend_confirmation_answers_while_the_cache_is_down(tenant_a, broker_down):
    user = User.objects.create_user("new@x.test", DEFAULT_PASSWORD, email_verification_required=True)
    client = Client()
    client.force_login(user)
    response = client.post("/verify-email/resend/", follow=True)
    assert response.status_code == 200 and "We sent a new confirmation link" in response.content.decode()
