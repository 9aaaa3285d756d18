"""Second-factor secrets at rest (issue 15.14): the raw rows hold no TOTP seed, no backup code and
no 2FA phone number in plain form, and every flow still works."""

from __future__ import annotations

import importlib
from base64 import b32decode

import pytest
from django.db import connection
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor.plugins.phonenumber.models import PhoneDevice

from accounts import crypto
from accounts.actor import Actor
from accounts.key_management import rotate_master_key
from tests.accounts.conftest import post_backup_code, post_password, post_token

pytestmark = pytest.mark.django_db
OPS = Actor.platform("ops:test")
SETUP = "/account/two_factor/setup/"


def raw(sql: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_setup_wizard_stores_a_sealed_seed_that_still_verifies(tenant_a, no_otp_sender):
    client = tenant_a.client_for("owner", otp_verified=False)
    page = client.get(SETUP)
    client.post(SETUP, {"setup_view-current_step": "welcome"})
    client.post(SETUP, {"setup_view-current_step": "method", "method-method": "generator"})
    secret = page.context["secret_key"]
    key = b32decode(secret + "=" * (-len(secret) % 8))
    done = client.post(SETUP, {"setup_view-current_step": "generator", "generator-token": totp(key)})
    assert done.status_code == 302
    [(stored,)] = raw("SELECT key FROM otp_totp_totpdevice WHERE user_id = %s", tenant_a.owner.pk)
    assert stored.startswith("s1:") and key.hex() not in stored.lower()
    assert TOTPDevice.objects.get(user=tenant_a.owner).key == key.hex()  # django-otp reads the seed


def test_sign_in_with_a_sealed_seed_works(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    [(stored,)] = raw("SELECT key FROM otp_totp_totpdevice WHERE id = %s", device.pk)
    assert device.key not in stored
    client = Client()
    post_password(client, tenant_a.owner.email)
    device.refresh_from_db()
    assert post_token(client, str(totp(device.bin_key)).zfill(6)).status_code == 302


def test_backup_codes_are_stored_hashed_and_still_sign_in(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    device = StaticDevice.objects.create(user=tenant_a.owner, name="backup")
    device.token_set.create(token="abcd2345")
    rows = raw("SELECT token FROM otp_static_statictoken")
    assert rows and all("abcd2345" not in token and token.startswith("h:") for (token,) in rows)
    client = Client()
    post_password(client, tenant_a.owner.email)
    client.post("/login/", {"login_view-current_step": "token", "wizard_goto_step": "backup"})
    assert post_backup_code(client, "abcd2345").status_code == 302
    assert not device.token_set.exists()  # used once


def test_the_stored_hash_itself_is_not_a_backup_code(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    device = StaticDevice.objects.create(user=tenant_a.owner, name="backup")
    device.token_set.create(token="abcd2345")
    [(stored,)] = raw("SELECT token FROM otp_static_statictoken")
    assert not device.verify_token(stored)


def test_the_backup_code_page_shows_codes_once(tenant_a):
    client = tenant_a.client_for("owner")
    made = client.post("/account/two_factor/backup/tokens/").content.decode()
    assert 'data-testid="backup-codes"' in made
    later = client.get("/account/two_factor/backup/tokens/").content.decode()
    assert 'data-testid="backup-codes"' not in later and "10 unused backup codes" in later


def test_2fa_phone_numbers_are_sealed(tenant_a):
    device = PhoneDevice.objects.create(
        user=tenant_a.owner, number="+14155550123", method="sms", name="default")
    [(stored,)] = raw("SELECT number FROM two_factor_phonedevice WHERE id = %s", device.pk)
    assert "4155550123" not in stored and stored.startswith("s1:")
    assert str(PhoneDevice.objects.get(pk=device.pk).number) == "+14155550123"


def test_master_key_rotation_reseals_second_factor_secrets(tenant_a, settings):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    phone = PhoneDevice.objects.create(
        user=tenant_a.staff, number="+14155550123", method="sms", name="default")
    seed = device.key
    settings.PHI_MASTER_KEYS = [crypto.generate_master_key(), *settings.PHI_MASTER_KEYS]
    rotate_master_key(actor=OPS)
    settings.PHI_MASTER_KEYS = settings.PHI_MASTER_KEYS[:1]  # the old master key is gone
    assert TOTPDevice.objects.get(pk=device.pk).key == seed
    assert str(PhoneDevice.objects.get(pk=phone.pk).number) == "+14155550123"


def test_the_migration_seals_and_hashes_rows_written_in_plain_text(tenant_a):
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    phone = PhoneDevice.objects.create(
        user=tenant_a.staff, number="+14155550123", method="sms", name="default")
    codes = StaticDevice.objects.create(user=tenant_a.owner, name="backup")
    codes.token_set.create(token="zzzz7777")
    seed = device.key
    # As django-otp stored them before.
    raw("UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s RETURNING id", seed, device.pk)
    raw("UPDATE two_factor_phonedevice SET number = '+14155550123' WHERE id = %s RETURNING id", phone.pk)
    raw("UPDATE otp_static_statictoken SET token = 'zzzz7777' RETURNING id")
    migration = importlib.import_module("accounts.migrations.0006_seal_second_factor_secrets")
    from django.db.migrations.loader import MigrationLoader

    # The migration's own (historical) models: plain columns, as when it runs for real.
    state = MigrationLoader(connection).project_state(("accounts", "0006_seal_second_factor_secrets"))
    migration.seal_existing(state.apps, None)
    dump = repr(raw("SELECT key FROM otp_totp_totpdevice") + raw("SELECT number FROM two_factor_phonedevice")
                + raw("SELECT token FROM otp_static_statictoken"))
    assert seed not in dump and "4155550123" not in dump and "zzzz7777" not in dump
    assert TOTPDevice.objects.get(pk=device.pk).key == seed
    assert codes.verify_token("zzzz7777")
