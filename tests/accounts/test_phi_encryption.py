"""PHI at rest: per-organisation envelope encryption, key rotation, crypto-shredding."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import crypto
from accounts.actor import Actor
from accounts.fields import EncryptedFieldMisuse
from accounts.key_management import (
    destroy_organization_keys,
    purge_retired_data_keys,
    rotate_data_key,
    rotate_master_key,
)
from accounts.models import DataKey
from contacts.models import Contact
from contacts.selectors import find_by_phone
from contacts.services import create_contact
from tests.factories import system_actor

OPS = Actor.platform("ops:test")
PHI_COLUMNS = ("first_name", "last_name", "phone", "email", "date_of_birth")


def make_patient(tenant, **overrides):
    values = dict(first_name="Marie", last_name="Curie", phone="(415) 555-0142",
                  email="Marie.Curie@Example.org", date_of_birth="1967-11-07")
    values.update(overrides)
    with tenant.scope():
        return create_contact(actor=system_actor(tenant.org), organization=tenant.org, **values)


def raw_row(contact_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(PHI_COLUMNS)} FROM contacts_contact WHERE id = %s", [contact_id]
        )
        return dict(zip(PHI_COLUMNS, cursor.fetchone(), strict=True))


def reload(tenant, contact_id):
    with tenant.scope():
        return Contact.objects.get(pk=contact_id)


def test_it_round_trips_every_phi_field(tenant_a):
    contact = make_patient(tenant_a)
    loaded = reload(tenant_a, contact.pk)
    assert (loaded.first_name, loaded.last_name) == ("Marie", "Curie")
    assert loaded.phone == "+14155550142"  # normalised to E.164 with the org's region
    assert loaded.email == "marie.curie@example.org"
    assert loaded.date_of_birth.isoformat() == "1967-11-07"


def test_raw_sql_shows_no_plaintext_in_any_phi_column(tenant_a):
    contact = make_patient(tenant_a)
    row = raw_row(contact.pk)
    for column, stored in row.items():
        assert stored.startswith("crx1:"), column
        for plaintext in ("Marie", "Curie", "4155550142", "curie", "1967"):
            assert plaintext not in stored, column


def test_ciphertext_names_the_organisations_data_key(tenant_a, tenant_b):
    a = make_patient(tenant_a)
    b = make_patient(tenant_b)
    key_a = crypto.key_id_of(raw_row(a.pk)["phone"])
    key_b = crypto.key_id_of(raw_row(b.pk)["phone"])
    assert key_a != key_b
    assert DataKey.objects.get(pk=key_a).organization_id == tenant_a.org.pk


def test_filtering_on_an_encrypted_column_raises(tenant_a):
    make_patient(tenant_a)
    with tenant_a.scope(), pytest.raises(EncryptedFieldMisuse):
        list(Contact.objects.filter(first_name="Marie"))
    with tenant_a.scope(), pytest.raises(EncryptedFieldMisuse):
        Contact.objects.update(last_name="Plain")


def test_a_value_moved_to_another_column_does_not_decrypt(tenant_a):
    contact = make_patient(tenant_a)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE contacts_contact SET last_name = first_name WHERE id = %s", [contact.pk])
    with pytest.raises(crypto.PHIKeyError, match="did not authenticate"):
        reload(tenant_a, contact.pk)


def test_master_key_rotation_rewraps_data_keys_and_rows_stay_readable(tenant_a, tenant_b, settings):
    a = make_patient(tenant_a)
    b = make_patient(tenant_b, first_name="Rosalind")
    before = {k.pk: bytes(k.wrapped_key) for k in DataKey.objects.all()}
    settings.PHI_MASTER_KEYS = [crypto.generate_master_key(), *settings.PHI_MASTER_KEYS]

    assert rotate_master_key(actor=OPS) == len(before)

    newest = crypto.master_keys()[0].key_id
    for key in DataKey.objects.all():
        assert key.master_key_id == newest
        assert bytes(key.wrapped_key) != before[key.pk]
    # The old master key can now leave the ring.
    settings.PHI_MASTER_KEYS = settings.PHI_MASTER_KEYS[:1]
    crypto.forget_cached_keys()
    assert reload(tenant_a, a.pk).first_name == "Marie"
    assert reload(tenant_b, b.pk).first_name == "Rosalind"


def test_a_missing_master_key_raises_a_clear_error(tenant_a, settings):
    contact = make_patient(tenant_a)
    settings.PHI_MASTER_KEYS = [crypto.generate_master_key()]
    crypto.forget_cached_keys()
    with pytest.raises(crypto.PHIKeyError, match="not in PHI_MASTER_KEYS"):
        reload(tenant_a, contact.pk)


def test_data_key_rotation_reencrypts_the_organisations_rows(tenant_a, tenant_b):
    patients = [make_patient(tenant_a, phone=f"+1415555{i:04d}") for i in range(7)]
    other = make_patient(tenant_b)
    old_key = crypto.key_id_of(raw_row(patients[0].pk)["phone"])
    other_raw = raw_row(other.pk)

    progress = rotate_data_key(tenant_a.org, actor=OPS, batch_size=3)

    assert progress.rows_reencrypted == 7
    assert progress.retired_key_ids == [old_key]
    # Decrypt-only first; destroyed once every row moved and no process can still hold it.
    with time_machine.travel(timezone.now() + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS + 1)):
        purge_retired_data_keys(tenant_a.org, actor=OPS)
    assert not DataKey.objects.filter(pk=old_key).exists()
    new_key = DataKey.objects.get(organization=tenant_a.org, purpose="data", is_primary=True).pk
    for patient in patients:
        assert {crypto.key_id_of(v) for v in raw_row(patient.pk).values()} == {new_key}
        assert reload(tenant_a, patient.pk).first_name == "Marie"
    assert raw_row(other.pk) == other_raw  # another organisation is untouched


def test_data_key_rotation_resumes_after_an_interruption(tenant_a, monkeypatch):
    patients = [make_patient(tenant_a, phone=f"+1415555{i:04d}") for i in range(5)]
    from accounts import key_management

    real = key_management._reencrypt_model
    monkeypatch.setattr(key_management, "_reencrypt_model",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        rotate_data_key(tenant_a.org, actor=OPS)
    # Half-rotated: the retired key still decrypts every row.
    assert all(reload(tenant_a, p.pk).last_name == "Curie" for p in patients)
    monkeypatch.setattr(key_management, "_reencrypt_model", real)

    assert rotate_data_key(tenant_a.org, actor=OPS).rows_reencrypted == 5
    with time_machine.travel(timezone.now() + timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS + 1)):
        purge_retired_data_keys(tenant_a.org, actor=OPS)
    assert DataKey.objects.filter(organization=tenant_a.org, purpose="data").count() == 1


def test_destroying_an_organisations_keys_makes_only_its_rows_unreadable(tenant_a, tenant_b):
    a = make_patient(tenant_a)
    b = make_patient(tenant_b, first_name="Rosalind")

    destroy_organization_keys(tenant_a.org, actor=OPS)

    with pytest.raises(crypto.PHIKeyError, match="cannot be decrypted"):
        reload(tenant_a, a.pk)
    assert reload(tenant_b, b.pk).first_name == "Rosalind"
    # And nothing new can be written for the shredded organisation.
    with pytest.raises(crypto.PHIKeyError):
        make_patient(tenant_a)


def test_the_same_phone_gets_different_blind_indexes_in_two_organisations(tenant_a, tenant_b):
    a = make_patient(tenant_a)
    b = make_patient(tenant_b)
    assert a.phone == b.phone
    assert a.phone_index and b.phone_index and a.phone_index != b.phone_index


def test_lookup_by_phone_is_one_indexed_equality_query(tenant_a):
    contact = make_patient(tenant_a)
    for i in range(5):
        make_patient(tenant_a, phone=f"+1212555{i:04d}")
    with tenant_a.scope(), CaptureQueriesContext(connection) as queries:
        found = find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                              raw_phone="415-555-0142")
    assert found.pk == contact.pk
    contact_queries = [q["sql"] for q in queries if "contacts_contact" in q["sql"]]
    assert len(contact_queries) == 1
    assert '"phone_index" =' in contact_queries[0]
    assert "4155550142" not in contact_queries[0]


@pytest.mark.parametrize("token", ["plain text", "crx2:1:AAAA", "crx1:one:AAAA", "crx1:1:not*base64!",
                                   "crx1:1:ÄÖÜ-non-ascii", "crx1:1:" + "A" * 40],
                         ids=["no-prefix", "other-version", "key-id", "alphabet", "non-ascii", "not-sealed"])
def test_anything_but_our_ciphertext_is_a_key_error_that_names_no_value(tenant_a, token):
    make_patient(tenant_a)  # a data key exists (id 1 or later): the last case fails on the tag
    with pytest.raises(crypto.PHIKeyError) as refused:
        crypto.decrypt(token, context="contacts.contact.first_name")
    assert token not in str(refused.value)


@pytest.mark.django_db(transaction=True)  # committed keys: a key of the open transaction is found there
def test_a_cached_key_is_read_again_after_the_cache_lifetime(tenant_a, monkeypatch):
    """decrypt's inlined cache hit keeps key_by_id's lifetime: a key destroyed by another process
    still decrypts here until the cached copy is older than the lifetime, then it does not."""
    now = [1_000.0]
    monkeypatch.setattr(crypto, "_clock", lambda: now[0])
    crypto.forget_cached_keys()
    patient = make_patient(tenant_a)
    token = raw_row(patient.pk)["first_name"]
    context = "contacts.contact.first_name"
    assert crypto.decrypt(token, context=context) == "Marie"
    DataKey.objects.filter(pk=crypto.key_id_of(token)).delete()  # as another process's shredding does
    now[0] += crypto.KEY_CACHE_LIFETIME_SECONDS - 1
    assert crypto.decrypt(token, context=context) == "Marie"
    now[0] += 2
    with pytest.raises(crypto.PHIKeyError, match="does not exist"):
        crypto.decrypt(token, context=context)
