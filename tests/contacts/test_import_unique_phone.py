"""One contact per phone in an organisation (issue 15 #16, database half): the constraint, the
migration that refuses existing duplicates, and the importer racing another writer."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django_scopes import scope

from accounts import blind_index
from contacts.importing import writing
from contacts.models import Contact
from tests.contacts.helpers import contacts_by_phone, csv_bytes, error_rows, run_file

HEADER = ["First name", "Phone", "Tags"]
ROWS = [["Marie", "4155550142", "flu"], ["Racer", "4155550143", "flu"], ["Ada", "4155550144", "vip"]]


def add_contact(org, phone: str, first_name: str = "Staff-made") -> Contact:
    with scope(organization=org):
        return Contact.objects.create(organization=org, first_name=first_name, phone=phone,
                                      phone_index=blind_index.indexer_for(org.pk).phone(phone))


def test_two_contacts_cannot_share_a_phone_in_one_organisation(tenant_a, tenant_b):
    add_contact(tenant_a.org, "+14155550142")
    with pytest.raises(IntegrityError), transaction.atomic():
        add_contact(tenant_a.org, "+14155550142")
    add_contact(tenant_b.org, "+14155550142")  # another organisation: its own patient
    with scope(organization=tenant_a.org):  # contacts without a phone are not constrained
        Contact.objects.create(organization=tenant_a.org, first_name="x")
        Contact.objects.create(organization=tenant_a.org, first_name="y")


def racing(monkeypatch, org, phone: str):
    """Make someone else create a contact with `phone` right after the importer's duplicate
    lookup and before its insert — from another connection, committed, like a staff member."""
    real = writing.BatchWriter._existing
    fired = []

    def lookup_then_race(self, indexes):
        found = real(self, indexes)
        if not fired:
            fired.append(1)
            thread = threading.Thread(target=lambda: (add_contact(org, phone), connection.close()))
            thread.start()
            thread.join()
        return found

    monkeypatch.setattr(writing.BatchWriter, "_existing", lookup_then_race)
    return fired


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["copy", "orm"])
def test_a_contact_created_between_the_lookup_and_the_insert_is_reported_and_the_rest_lands(
        tenant_a, monkeypatch, path):
    if path == "orm":  # the embedded default's path (SQLite), exercised here on PostgreSQL
        real_init = writing.BatchWriter.__init__

        def orm_writer(self, **kwargs):
            real_init(self, **kwargs)
            self.use_copy = False

        monkeypatch.setattr(writing.BatchWriter, "__init__", orm_writer)
    fired = racing(monkeypatch, tenant_a.org, "+14155550143")
    job = run_file(tenant_a, csv_bytes([HEADER, *ROWS]))
    assert fired
    assert (job.status, job.created_count, job.skipped_count, job.failed_count) == ("done", 2, 1, 0)
    phones = contacts_by_phone(tenant_a)
    assert phones["+14155550142"].first_name == "Marie" and phones["+14155550144"].first_name == "Ada"
    assert phones["+14155550143"].first_name == "Staff-made"  # the other writer's contact stands
    with tenant_a.scope():
        assert Contact.objects.count() == 3
        assert sorted(t.name for t in phones["+14155550142"].tags.all()) == ["flu"]
        assert not phones["+14155550143"].tags.exists()  # the skipped row's tags went nowhere
    (problem,) = error_rows(job)
    assert (problem["row"], problem["result"]) == ("3", "skipped")
    assert "added while the import ran" in problem["reason"] and "by hand" in problem["reason"]


def test_the_migration_refuses_existing_duplicates_and_says_how_to_find_them(tenant_a):
    executor = MigrationExecutor(connection)
    with connection.schema_editor(atomic=True) as editor:
        from importlib import import_module

        migration = import_module("contacts.migrations.0004_contact_unique_phone")
        # The check alone, on a table that holds a duplicate (the constraint dropped for the test).
        editor.execute("ALTER TABLE contacts_contact DROP CONSTRAINT IF EXISTS contact_unique_phone")
        editor.execute("DROP INDEX IF EXISTS contact_unique_phone")
        add_contact(tenant_a.org, "+14155550142", "One")
        add_contact(tenant_a.org, "+14155550142", "Two")
        with pytest.raises(RuntimeError) as refused:
            migration.refuse_existing_duplicates(executor.loader.project_state().apps, editor)
    message = str(refused.value)
    assert "1 phone number(s) in 1 organisation(s)" in message and "Nothing was changed" in message
    assert "HAVING count(*) > 1" in message and "migrate" in message
    assert "4155550142" not in message  # counts and a query, never the phone itself


def test_the_phone_lookup_uses_the_unique_index(tenant_a):
    add_contact(tenant_a.org, "+14155550142")
    index = blind_index.indexer_for(tenant_a.org.pk).phone("+14155550142")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM contacts_contact "
                       "WHERE organization_id = %s AND phone_index = %s",
                       [tenant_a.org.pk, index])
        plan = " ".join(r[0] for r in cursor.fetchall())
    assert "contact_unique_phone" in plan
