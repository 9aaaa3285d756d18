"""Messy real-world files: each gives a clear result and loses no good row."""

from __future__ import annotations

import datetime
import io

import pytest
import xlwt
from openpyxl import Workbook

from contacts.importing import service
from contacts.models import Contact, CustomField, Tag
from tests.contacts.helpers import actor, contacts_by_phone, csv_bytes, error_rows, run_file, upload
from tests.factories import system_actor

HEADER = ["First name", "Last name", "Phone", "Email"]
GOOD = [["Marie", "Curie", "(415) 555-0142", "marie@example.org"],
        ["José", "García", "415.555.0143", ""]]


def assert_good_rows_landed(tenant):
    phones = contacts_by_phone(tenant)
    assert phones["+14155550142"].first_name == "Marie"
    assert phones["+14155550143"].first_name == "José"


@pytest.mark.parametrize(("delimiter", "encoding", "bom"), [
    (",", "utf-8", False), (";", "utf-8", True), ("\t", "utf-8", False), (";", "latin-1", False),
    (",", "cp1252", False),
])
def test_csv_dialects_and_encodings_import_the_same(tenant_a, delimiter, encoding, bom):
    data = csv_bytes([HEADER, *GOOD], delimiter=delimiter, encoding=encoding)
    job = run_file(tenant_a, (b"\xef\xbb\xbf" if bom else b"") + data)
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 0)
    assert_good_rows_landed(tenant_a)  # "José García" survives Latin-1 and cp1252


def test_bad_rows_are_reported_by_number_and_good_rows_still_land(tenant_a):
    rows = [HEADER, GOOD[0],
            ["Bad", "Phone", "12", ""],                              # row 3: invalid phone
            ["", "", "", ""],                                        # row 4: blank, ignored
            ["No", "Phone", "", "nophone@example.org"],              # row 5: no phone
            ["Dup", "Licate", "+1 415 555 0142", ""],                # row 6: duplicate of row 2
            ["X" * 101, "Long", "415-555-0144", ""],                 # row 7: over-long name
            ["Bad", "Mail", "415-555-0145", "not-an-email"],         # row 8: bad e-mail
            GOOD[1]]
    job = run_file(tenant_a, csv_bytes(rows))
    assert (job.created_count, job.skipped_count, job.failed_count, job.blank_rows) == (2, 1, 4, 1)
    assert_good_rows_landed(tenant_a)
    problems = {int(r["row"]): r for r in error_rows(job)}
    assert set(problems) == {3, 5, 6, 7, 8}
    assert "not a valid number for its country" in problems[3]["reason"]
    assert problems[3]["column"] == "Phone"
    assert "no phone number" in problems[5]["reason"]
    assert problems[6]["result"] == "skipped" and "row 2" in problems[6]["reason"]
    assert "longer than 100" in problems[7]["reason"]
    assert "e-mail" in problems[8]["reason"]


def test_the_error_file_never_contains_the_rows_values(tenant_a):
    secret_row = ["Secretname", "Patient", "555-SECRET", "hidden@example.org"]
    job = run_file(tenant_a, csv_bytes([HEADER, secret_row]))
    text = str(error_rows(job))
    assert job.failed_count == 1
    for value in ("Secretname", "SECRET", "hidden@example.org"):
        assert value not in text


def test_excel_numeric_phones_and_dates_from_a_real_xlsx(tenant_a):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["First name", "Phone", "Date of birth"])
    sheet.append(["Ada", 4155550142, datetime.datetime(1985, 12, 10)])      # "+1"/leading digits lost
    sheet.append(["Grace", 447911123456, datetime.datetime(1976, 12, 9)])   # "+" lost on a UK mobile
    sheet.append(["Alan", 4155550146.0, "1990-06-23"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = run_file(tenant_a, buffer.getvalue(), "export.xlsx")
    assert (job.status, job.file_format, job.created_count, job.failed_count) == ("done", "xlsx", 3, 0)
    phones = contacts_by_phone(tenant_a)
    assert phones["+14155550142"].date_of_birth == datetime.date(1985, 12, 10)
    assert phones["+447911123456"].first_name == "Grace"
    assert "+14155550146" in phones


def test_a_real_xls_file(tenant_a):
    # xlwt ships with tablib[xls] (pinned in requirements/base.txt), so a genuine BIFF .xls is built here.
    book = xlwt.Workbook()
    sheet = book.add_sheet("Patients")
    for c, value in enumerate(["Name", "Mobile", "DOB"]):
        sheet.write(0, c, value)
    sheet.write(1, 0, "Curie, Marie")
    sheet.write(1, 1, 4155550142)
    sheet.write(1, 2, datetime.date(1967, 11, 7), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    buffer = io.BytesIO()
    book.save(buffer)
    job = run_file(tenant_a, buffer.getvalue(), "old.xls")
    assert (job.file_format, job.created_count) == ("xls", 1)
    marie = contacts_by_phone(tenant_a)["+14155550142"]
    assert (marie.first_name, marie.last_name) == ("Marie", "Curie")
    assert marie.date_of_birth == datetime.date(1967, 11, 7)


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "empty.csv", "The file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "photo.csv", "not a text spreadsheet"),
    (b"not really excel", "list.xlsx", "named like an Excel file"),
])
def test_unreadable_files_are_refused_with_what_to_do(tenant_a, data, name, message):
    with pytest.raises(service.FileProblem, match=message) as caught:
        upload(tenant_a, data, name)
    assert "upload it again" in str(caught.value)


def test_a_file_with_only_headers_imports_nothing_and_says_so(tenant_a):
    job = run_file(tenant_a, csv_bytes([HEADER]))
    assert (job.status, job.total_rows, job.created_count, job.failed_count) == ("done", 0, 0, 0)


def test_the_row_limit_refuses_the_whole_file_before_importing(tenant_a, settings):
    settings.CONTACT_IMPORT_MAX_ROWS = 1
    job = run_file(tenant_a, csv_bytes([HEADER, *GOOD]))
    assert job.status == "failed"
    assert "at most 1 can be imported" in job.failure_reason and "Split it" in job.failure_reason
    with tenant_a.scope():
        assert Contact.objects.count() == 0


def test_the_size_limit_is_checked_at_upload(tenant_a, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 10
    with pytest.raises(service.FileProblem, match="the limit is"):
        upload(tenant_a, csv_bytes([HEADER, *GOOD]))


def test_custom_fields_are_typed_and_wrong_types_fail_their_row(tenant_a):
    rows = [["Phone", "Insurer", "Visits", "Last visit", "Tags"],
            ["4155550142", "Aetna", "3", "2024-05-01", "flu, diabetes"],
            ["4155550143", "Kaiser", "three", "2024-05-01", ""],
            ["4155550144", "Kaiser", "2", "31/31/2024", ""]]
    job = upload(tenant_a, csv_bytes(rows))
    mapping = ["phone", "new:text", "new:number", "new:date", "tags"]
    with tenant_a.scope():
        assert service.configure(actor=actor(tenant_a), job=job, mapping=mapping,
                                 default_region="US", on_existing="update") == []
        job.refresh_from_db()
        keys = {f.label: f.key for f in CustomField.objects.all()}
        assert sorted(Tag.objects.values_list("name", flat=True)) == ["diabetes", "flu"]
    assert (job.created_count, job.failed_count) == (1, 2)
    contact = contacts_by_phone(tenant_a)["+14155550142"]
    assert contact.custom_values == {keys["Insurer"]: "Aetna", keys["Visits"]: 3,
                                     keys["Last visit"]: "2024-05-01"}
    reasons = {int(r["row"]): r["reason"] for r in error_rows(job)}
    assert "not a number" in reasons[3] and "not a valid date" in reasons[4]


def test_existing_contacts_are_updated_or_skipped_as_chosen(tenant_a):
    run_file(tenant_a, csv_bytes([HEADER, ["Marie", "Curie", "4155550142", ""]]))
    skipped = run_file(tenant_a, csv_bytes([HEADER, ["Maria", "Curie", "+14155550142", "m@example.org"]]),
                       on_existing="skip")
    assert (skipped.created_count, skipped.skipped_count) == (0, 1)
    assert contacts_by_phone(tenant_a)["+14155550142"].first_name == "Marie"
    updated = run_file(tenant_a, csv_bytes([HEADER, ["Maria", "", "+14155550142", "m@example.org"]]))
    assert (updated.created_count, updated.updated_count) == (0, 1)
    contact = contacts_by_phone(tenant_a)["+14155550142"]
    assert (contact.first_name, contact.last_name, contact.email) == ("Maria", "Curie", "m@example.org")
    with tenant_a.scope():  # search by the new name works: name tokens were rebuilt
        from contacts.selectors import search_contacts
        assert list(search_contacts(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                    query="maria")) == [contact]


def test_the_mapping_is_remembered_for_the_next_file_with_the_same_headers(tenant_a):
    data = csv_bytes([["Col A", "Col B"], ["Marie", "4155550142"]])
    job = upload(tenant_a, data)
    assert job.mapping == ["ignore", "ignore"]
    with tenant_a.scope():
        service.configure(actor=actor(tenant_a), job=job, mapping=["first_name", "phone"],
                          default_region="US", on_existing="update")
    assert upload(tenant_a, data).mapping == ["first_name", "phone"]


def test_a_mapping_without_phone_is_refused_with_what_to_do(tenant_a):
    job = upload(tenant_a, csv_bytes([HEADER, *GOOD]))
    with tenant_a.scope():
        problems = service.configure(actor=actor(tenant_a), job=job,
                                     mapping=["first_name", "last_name", "ignore", "email"],
                                     default_region="US", on_existing="update")
    assert any("Map one column to Phone" in p for p in problems)


def test_consent_columns_set_consent_with_source_import(tenant_a):
    job = run_file(tenant_a, csv_bytes([["Phone", "SMS consent"], ["4155550142", "yes"], ["4155550143", "no"],
                                        ["4155550144", "maybe"]]))
    assert (job.created_count, job.failed_count) == (2, 1)
    phones = contacts_by_phone(tenant_a)
    yes = phones["+14155550142"]
    assert (yes.sms_opted_in, yes.sms_consent_source) == (True, "import")
    assert phones["+14155550143"].sms_opted_in is False


def test_the_uploaded_file_is_encrypted_at_rest_and_deleted_after_the_import(tenant_a, settings):
    from contacts.importing.storage import upload_path

    job = upload(tenant_a, csv_bytes([HEADER, ["Secretname", "Patient", "4155550142", ""]]))
    stored = upload_path(job.organization_id, job.uuid).read_bytes()
    assert b"Secretname" not in stored and b"4155550142" not in stored
    with tenant_a.scope():
        service.configure(actor=actor(tenant_a), job=job, mapping=job.mapping, default_region="US",
                          on_existing="update")
    assert not upload_path(job.organization_id, job.uuid).exists()


def test_an_import_survives_the_key_cache_expiring_mid_batch(tenant_a, monkeypatch):
    # Regression: keys reloaded from the database while a COPY was open deadlocked long imports
    # (the cache expires every 5 minutes). With a zero-second cache every encryption reloads.
    from accounts import crypto

    monkeypatch.setattr(crypto, "_CACHE_SECONDS", 0)
    job = run_file(tenant_a, csv_bytes([HEADER, *GOOD]))
    assert (job.status, job.created_count) == ("done", 2)
    assert_good_rows_landed(tenant_a)
