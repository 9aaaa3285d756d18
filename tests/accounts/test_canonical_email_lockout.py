"""One canonical e-mail for storage, sign-in and lockout; a per-account lock across addresses (15.2).

Also: django-axes' records hold no typed text (15.14).
"""

from __future__ import annotations

import importlib

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.db import connection
from django.test import Client
from django_scopes import scopes_disabled

from accounts.email_address import canonical_email
from accounts.lockout import lockout_key
from accounts.models import Invitation, User
from audit import AuditAction
from tests.accounts.conftest import events, post_password
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PLAIN = "finance@clinic.test"
# Dotless i (U+0131), a fullwidth f (U+FF46), the "fi" ligature (U+FB01), upper case.
LOOK_ALIKES = ["f\u0131nance@clinic.test", "\uff46inance@clinic.test", "\ufb01nance@clinic.test",
               "FINANCE@CLINIC.TEST"]


@pytest.mark.parametrize("variant", LOOK_ALIKES)
def test_look_alikes_have_one_canonical_form_and_one_lockout_bucket(variant):
    assert canonical_email(variant) == PLAIN
    assert lockout_key(variant) == lockout_key(PLAIN)


def test_users_are_stored_in_canonical_form_by_every_door():
    assert User.objects.create_user("\uff26inance@Clinic.test", DEFAULT_PASSWORD).email == PLAIN
    other = UserFactory(email="ST\u0130LL@x.test")
    other.email = "\ufb01ne@x.test"
    other.save()
    assert User.objects.get(pk=other.pk).email == "fine@x.test"


def test_look_alike_guesses_all_count_against_the_one_account(tenant_a):
    user = UserFactory(email=PLAIN)
    tenant_a.org.memberships.create(user=user, role="staff")
    client = Client()
    for variant in LOOK_ALIKES:
        assert post_password(client, variant, "wrong-password-123").status_code == 200
    # The fifth wrong guess, under yet another spelling, locks the account for this address.
    assert post_password(client, PLAIN, "wrong-password-123").status_code == 429
    assert post_password(client, LOOK_ALIKES[0], DEFAULT_PASSWORD).status_code == 429
    [attempt] = AccessAttempt.objects.all()
    assert attempt.failures_since_start == 5


def test_sign_in_finds_the_account_under_a_look_alike_spelling(tenant_a):
    user = UserFactory(email=PLAIN)
    tenant_a.org.memberships.create(user=user, role="staff")
    client = Client()
    assert post_password(client, LOOK_ALIKES[1], DEFAULT_PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_guesser_spread_over_many_addresses_is_locked_out_of_the_account(tenant_a, settings):
    settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT = 12
    email = tenant_a.staff.email
    for n in range(3):  # 4 guesses from each address: never the per-address limit (5)
        client = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        for _ in range(4):
            assert post_password(client, email, "wrong-password-123").status_code == 200
    # Twelve failures in all: the account is locked from every address, even a fresh one with the
    # right password, and the page says why.
    fresh = Client(REMOTE_ADDR="198.51.100.7")
    refused = post_password(fresh, email, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert 'data-testid="locked-every-address"' in refused.content.decode()
    assert "_auth_user_id" not in fresh.session
    [locked] = [e for e in events(tenant_a.org, AuditAction.ACCOUNT_LOCKED) if e.detail.get("every_address")]
    assert locked.detail["failures"] == 12


def test_without_the_per_account_limit_reached_another_address_still_signs_in(tenant_a, settings):
    settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT = 12
    for n in range(2):
        client = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        for _ in range(4):
            post_password(client, tenant_a.staff.email, "wrong-password-123")
    assert post_password(Client(REMOTE_ADDR="198.51.100.7"), tenant_a.staff.email).status_code == 302


def test_failed_sign_in_records_hold_no_typed_text(tenant_a):
    typed = "Pasted-Passw0rd-In-Email@x.test"
    for _ in range(2):
        post_password(Client(), typed, "Sup3r-secret-typo", HTTP_USER_AGENT="ua")
        post_password(Client(), tenant_a.staff.email, "Sup3r-secret-typo")
    with connection.cursor() as cursor:
        cursor.execute("SELECT username, get_data, post_data FROM axes_accessattempt")
        rows = cursor.fetchall()
        cursor.execute("SELECT username FROM axes_accesslog "
                       "UNION ALL SELECT username FROM axes_accessfailurelog")
        rows += cursor.fetchall()
    raw = repr(rows).lower()
    assert rows
    assert typed.lower() not in raw and tenant_a.staff.email.lower() not in raw
    assert "sup3r" not in raw and "pasted" not in raw


# --- the data migration -----------------------------------------------------------------------

MIGRATION = importlib.import_module("accounts.migrations.0003_canonical_emails_and_hashed_lockout_records")


def test_the_migration_canonicalises_stored_addresses_and_hashes_old_lockout_rows(tenant_a):
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(email="\uff26inance@CLINIC.test")  # as an old row could be
    invitation = Invitation.objects.create(organization=tenant_a.org, email="New@X.test", token_hash="h" * 64,
                                           expires_at="2999-01-01T00:00Z")
    AccessAttempt.objects.create(username="someone@x.test", ip_address="10.0.0.1", user_agent="ua",
                                 get_data="", post_data="auth-username=someone@x.test",
                                 http_accept="", path_info="/login/", failures_since_start=1)
    MIGRATION.canonicalise_emails(apps, None)
    MIGRATION.hash_lockout_records(apps, None)
    assert User.objects.get(pk=user.pk).email == PLAIN
    with scopes_disabled():
        assert Invitation.objects.get(pk=invitation.pk).email == "new@x.test"
    attempt = AccessAttempt.objects.get()
    assert attempt.username == lockout_key("someone@x.test") and attempt.post_data == ""


def test_the_migration_refuses_when_two_accounts_would_share_an_address():
    first, second = UserFactory(email=PLAIN), UserFactory()
    User.objects.filter(pk=second.pk).update(email="F\u0131nance@clinic.test")
    with pytest.raises(MIGRATION.EmailCollision, match=rf"users \[{first.pk}, {second.pk}\]"):
        MIGRATION.canonicalise_emails(apps, None)
    assert User.objects.get(pk=second.pk).email == "F\u0131nance@clinic.test"  # nothing changed
