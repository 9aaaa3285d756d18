"""Data-key retirement (issue 15.15): decrypt-only first, never used to encrypt past a short
re-check, deleted only after the key cache's lifetime and only when no row still needs it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import crypto
from accounts.actor import Actor
from accounts.key_management import purge_retired_data_keys, rotate_data_key, rows_under_key
from accounts.models import DataKey
from audit import AuditAction
from tests.accounts.conftest import events
from tests.accounts.test_phi_encryption import make_patient, raw_row, reload

pytestmark = pytest.mark.django_db
OPS = Actor.platform("ops:test")


class FakeClock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(crypto, "_clock", fake)
    return fake


def _warm_cache_of_another_worker(organization_id: int, key_id: int) -> None:
    """What a worker that loaded `key_id` as primary just before the rotation still holds."""
    raw = crypto.key_by_id(key_id).raw
    crypto._share(crypto._Loaded(key_id, organization_id, raw, crypto._clock(), "data"), "data")


def test_rotation_retires_the_old_key_to_decrypt_only_and_keeps_it(tenant_a):
    patient = make_patient(tenant_a)
    old = DataKey.objects.get(organization=tenant_a.org, purpose="data", is_primary=True)
    rotate_data_key(tenant_a.org, actor=OPS)
    old.refresh_from_db()
    assert old.state == DataKey.State.DECRYPT_ONLY and not old.is_primary and old.retired_at
    assert reload(tenant_a, patient.pk).first_name == "Marie"


def test_a_warm_cache_stops_encrypting_with_a_retired_key_after_the_recheck(tenant_a, clock):
    make_patient(tenant_a)
    [old_id] = rotate_data_key(tenant_a.org, actor=OPS).retired_key_ids
    new_id = DataKey.objects.get(organization=tenant_a.org, purpose="data", is_primary=True).pk
    _warm_cache_of_another_worker(tenant_a.org.pk, old_id)
    # Within the short re-check window the warm cache may still name the old key (bounded)...
    assert crypto.primary_key(tenant_a.org.pk, "data").key_id == old_id
    clock.advance(crypto.PRIMARY_RECHECK_SECONDS)
    # ...and past it, never: the cache asks the database and refuses the retired key.
    token = crypto.encrypt("x", organization_id=tenant_a.org.pk, context="t")
    assert crypto.key_id_of(token) == new_id != old_id
    # ...and keeps using the new one while the cache is warm.
    clock.advance(1)
    assert crypto.key_id_of(crypto.encrypt("y", organization_id=tenant_a.org.pk, context="t")) == new_id


def test_a_retired_key_is_never_loaded_as_primary_from_the_database(tenant_a):
    make_patient(tenant_a)
    rotate_data_key(tenant_a.org, actor=OPS)
    crypto.forget_cached_keys()
    retired = DataKey.objects.get(organization=tenant_a.org, state=DataKey.State.DECRYPT_ONLY)
    assert crypto.primary_key(tenant_a.org.pk, "data").key_id != retired.pk


def test_a_retired_key_is_kept_for_the_cache_lifetime_then_purged(tenant_a):
    patients = [make_patient(tenant_a, phone=f"+1415555{i:04d}") for i in range(3)]
    [old_id] = rotate_data_key(tenant_a.org, actor=OPS).retired_key_ids
    start = timezone.now()
    with time_machine.travel(start + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS - 5)):
        assert purge_retired_data_keys(tenant_a.org, actor=OPS).kept_key_ids == [old_id]
    assert DataKey.objects.filter(pk=old_id).exists()
    with time_machine.travel(start + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS + 1)):
        assert purge_retired_data_keys(tenant_a.org, actor=OPS).deleted_key_ids == [old_id]
    assert not DataKey.objects.filter(pk=old_id).exists()
    assert all(reload(tenant_a, p.pk).last_name == "Curie" for p in patients)
    [purged] = events(tenant_a.org, AuditAction.DATA_KEY_PURGED)
    assert purged.detail == {"data_key_id": old_id, "late_rows_reencrypted": 0}


def test_a_row_written_late_with_the_retired_key_is_moved_before_the_key_is_deleted(tenant_a, clock):
    make_patient(tenant_a)
    [old_id] = rotate_data_key(tenant_a.org, actor=OPS).retired_key_ids
    # Another worker, inside its re-check window, writes with the old key after the pass.
    _warm_cache_of_another_worker(tenant_a.org.pk, old_id)
    late = make_patient(tenant_a, phone="+14155550999")
    assert old_id in {crypto.key_id_of(v) for v in raw_row(late.pk).values()}
    crypto.forget_cached_keys()
    with time_machine.travel(timezone.now() + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS + 1)):
        result = purge_retired_data_keys(tenant_a.org, actor=OPS)
    assert result.deleted_key_ids == [old_id]
    assert old_id not in {crypto.key_id_of(v) for v in raw_row(late.pk).values()}
    assert reload(tenant_a, late.pk).phone  # still readable
    assert events(tenant_a.org, AuditAction.DATA_KEY_PURGED)[0].detail["late_rows_reencrypted"] == 1


def test_a_key_that_still_decrypts_a_row_is_never_deleted(tenant_a, monkeypatch):
    patient = make_patient(tenant_a)
    [old_id] = rotate_data_key(tenant_a.org, actor=OPS).retired_key_ids
    # Put a value under the old key back (a writer the pass cannot reach), and stop the late pass.
    from accounts import key_management

    monkeypatch.setattr(key_management, "_reencrypt_model", lambda *a, **k: 0)
    from contacts.models import Contact

    field = Contact._meta.get_field("first_name")
    old = crypto.key_by_id(old_id)
    sealed = crypto.Sealer(old.key_id, old.raw).seal("Marie", field.crypto_context)
    with tenant_a.scope():
        Contact.objects.filter(pk=patient.pk).update(first_name=crypto.Ciphertext(sealed))
    assert rows_under_key(tenant_a.org.pk, old_id) == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS + 1)):
        result = purge_retired_data_keys(tenant_a.org, actor=OPS)
    assert result.kept_key_ids == [old_id] and DataKey.objects.filter(pk=old_id).exists()
    assert reload(tenant_a, patient.pk).first_name == "Marie"
