"""Files without a header row (issue 15 #7) and UTF-16/UTF-32 text (issue 15 #8)."""

from __future__ import annotations

import codecs

import pytest
from django_scopes import scopes_disabled

from audit.models import AuditEvent
from contacts.importing import service
from contacts.models import CustomField
from tests.contacts.helpers import actor, contacts_by_phone, csv_bytes, error_rows, run_file, upload

HEADERLESS = [["Marie", "Curie", "4155550142", "Aetna"],
              ["José", "García", "4155550143", "Kaiser"],
              ["Ada", "Lovelace", "12", "Cigna"]]


def test_a_file_without_a_header_row_names_its_columns_and_imports_its_first_row(tenant_a):
    job = upload(tenant_a, csv_bytes(HEADERLESS))
    assert job.has_header is False
    assert job.headers == ["Column 1", "Column 2", "Column 3", "Column 4"]
    assert job.mapping[2] == "phone"  # guessed from what the column holds
    with tenant_a.scope():
        _, sample = service.preview(job)
    assert sample[0][0] == "Marie"  # the first row is data, shown as data
    with tenant_a.scope():
        assert service.configure(actor=actor(tenant_a), job=job,
                                 mapping=["first_name", "last_name", "phone", "new:text"],
                                 default_region="US", on_existing="update") == []
        job.refresh_from_db()
        field = CustomField.objects.get()
    assert (job.total_rows, job.created_count, job.failed_count) == (3, 2, 1)
    assert contacts_by_phone(tenant_a)["+14155550142"].first_name == "Marie"
    assert [r["row"] for r in error_rows(job)] == ["3"]  # row numbers count the first row as row 1
    # The new field is named after the column's position, never after a patient's value.
    assert (field.label, field.key) == ("Column 4", "column_4")
    with scopes_disabled():  # test inspection of the audit log
        events = AuditEvent.objects.filter(organization=tenant_a.org)
        details = str(list(events.values_list("detail", flat=True)))
    for value in ("Marie", "Curie", "Aetna", "aetna", "4155550142"):
        assert value not in details


def test_a_field_key_never_comes_from_a_cell_even_when_the_file_is_read_with_a_header(tenant_a):
    # The person insists the first row names the columns; the cells that read like values
    # still do not become field names.
    job = upload(tenant_a, csv_bytes(HEADERLESS))
    with tenant_a.scope():
        service.set_first_row(actor=actor(tenant_a), job=job, is_data=False)
        job.refresh_from_db()
        assert job.has_header and job.headers[2] == "4155550142"
        service.configure(actor=actor(tenant_a), job=job, mapping=["ignore", "ignore", "phone", "new:text"],
                          default_region="US", on_existing="update")
        service.set_first_row  # noqa: B018 - the switch is offered only before the import starts
        field = CustomField.objects.get()
    assert field.label == "Aetna"  # a word can still be a column name the person chose…
    job2 = upload(tenant_a, csv_bytes([["a@example.org", "4155550150", "1980-01-02"],
                                       ["b@example.org", "4155550151", "1980-01-03"]]))
    with tenant_a.scope():
        service.set_first_row(actor=actor(tenant_a), job=job2, is_data=False)
        job2.refresh_from_db()
        service.configure(actor=actor(tenant_a), job=job2, mapping=["new:text", "phone", "new:date"],
                          default_region="US", on_existing="update")
        labels = sorted(CustomField.objects.exclude(pk=field.pk).values_list("label", flat=True))
    assert labels == ["Column 1", "Column 3"]  # …but an e-mail address or a date never is


def test_the_mapping_step_can_say_the_first_row_is_data(tenant_a):
    rows = [["Insurer", "Mobile"], ["Aetna", "4155550142"]]
    job = upload(tenant_a, csv_bytes(rows))
    assert job.has_header and job.headers == ["Insurer", "Mobile"]
    with tenant_a.scope():
        service.set_first_row(actor=actor(tenant_a), job=job, is_data=True)
        job.refresh_from_db()
    assert (job.has_header, job.headers, job.header_rows) == (False, ["Column 1", "Column 2"], 0)
    with tenant_a.scope():
        service.set_first_row(actor=actor(tenant_a), job=job, is_data=False)
        job.refresh_from_db()
    assert (job.has_header, job.headers, job.mapping) == (True, ["Insurer", "Mobile"], ["ignore", "phone"])


def test_a_header_row_below_blank_lines_is_still_the_header(tenant_a):
    data = b"\r\n\r\n" + csv_bytes([["Name", "Phone"], ["Marie Curie", "4155550142"]])
    job = run_file(tenant_a, data)
    assert (job.header_rows, job.total_rows, job.created_count, job.failed_count) == (3, 1, 1, 0)


def test_the_mapping_page_offers_the_first_row_switch(tenant_a):
    import io

    from django.urls import reverse

    client = tenant_a.client_for("staff")
    uploaded = client.post(reverse("contacts:import_upload"), {"file": io.BytesIO(csv_bytes(HEADERLESS))})
    map_url = uploaded["Location"]
    page = client.get(map_url)
    assert b"looks like a patient" in page.content and b"Column 1" in page.content
    assert client.post(map_url, {"first_row": "header"})["Location"] == map_url
    assert b"Column 1" not in client.get(map_url).content


@pytest.mark.parametrize(("encoding", "bom"), [
    ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE),
    ("utf-16-le", b""),  # Excel's "Unicode text" without a mark
])
def test_utf16_and_utf32_text_files_import(tenant_a, encoding, bom):
    rows = [["First name", "Last name", "Phone"], ["José", "García", "4155550142"],
            ["Zoë", "Ñúñez", "4155550143"]]
    data = bom + csv_bytes(rows, delimiter="\t", encoding=encoding)
    assert b"\x00" in data  # what used to be refused as "binary data"
    job = run_file(tenant_a, data, "unicode.txt")
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 0)
    phones = contacts_by_phone(tenant_a)
    assert (phones["+14155550142"].first_name, phones["+14155550143"].last_name) == ("José", "Ñúñez")
    assert job.headers == ["First name", "Last name", "Phone"]  # no byte-order mark in the first name


def test_real_binary_data_is_still_refused(tenant_a):
    with pytest.raises(service.FileProblem, match="binary data"):
        upload(tenant_a, codecs.BOM_UTF16_LE + bytes(range(256)) * 8, "photo.csv")
