"""Exports stream inside the tenant scope, for every column combination, and are audited as a
started + completed pair (issue 15 #1)."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from django.urls import reverse
from django_scopes import ScopeError, scope, scopes_disabled
from openpyxl import load_workbook

from accounts.streaming import stream_in_scope
from audit import AuditAction
from audit import context as audit_context
from audit.models import AuditEvent
from contacts import exporting
from contacts.models import Contact, CustomField, Tag
from tests.contacts.helpers import actor, csv_bytes, run_file

PATIENTS = [["Full name", "Phone", "Email", "SMS consent", "WhatsApp consent", "Tags", "Insurer"],
            ["Marie Curie", "4155550142", "marie@example.org", "yes", "no", "flu, diabetes", "Aetna"],
            ["José García", "4155550143", "", "no", "", "", "Kaiser"],
            ["Ada Lovelace", "4155550144", "ada@example.org", "", "yes", "vip", ""]]
MAPPING = ["full_name", "phone", "email", "sms_consent", "whatsapp_consent", "tags", "new:text"]
EXPECTED = {  # by phone: what each column must read back as
    "+14155550142": {"first_name": "Marie", "last_name": "Curie", "email": "marie@example.org",
                     "sms_opted_in": "yes", "whatsapp_opted_in": "no", "tags": "diabetes, flu",
                     "insurer": "Aetna"},
    "+14155550143": {"first_name": "José", "last_name": "García", "email": "", "sms_opted_in": "no",
                     "whatsapp_opted_in": "", "tags": "", "insurer": "Kaiser"},
    "+14155550144": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org",
                     "sms_opted_in": "", "whatsapp_opted_in": "yes", "tags": "vip", "insurer": ""},
}


@pytest.fixture
def patients(tenant_a):
    job = run_file(tenant_a, csv_bytes(PATIENTS), mapping=MAPPING)
    assert job.created_count == 3
    with tenant_a.scope():
        insurer = CustomField.objects.get()
        return {c.phone: c.pk for c in Contact.objects.all()}, f"custom:{insurer.key}"


def column_sets(custom: str) -> list[list[str]]:
    every = [c for c, _ in exporting.STANDARD_COLUMNS.items()] + [custom]
    return [
        list(exporting.DEFAULT_COLUMNS),                        # the default export (has tags)
        ["phone", "tags"],
        ["phone", custom],
        ["phone", "sms_opted_in", "whatsapp_opted_in"],
        ["phone", "tags", custom, "sms_opted_in", "whatsapp_opted_in"],
        every,
    ]


def exported_rows(response, file_format: str) -> list[list[str]]:
    # Read the body here, after the request ended: the way a WSGI server pulls it (out of scope).
    data = b"".join(response.streaming_content)
    if file_format == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(data)).active
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def actions(tenant) -> list[AuditEvent]:
    with scopes_disabled():  # test inspection of the audit log
        return list(AuditEvent.objects.filter(organization=tenant.org).order_by("seq"))


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@pytest.mark.parametrize("selected", [False, True], ids=["all", "export-selected"])
@pytest.mark.parametrize("which", range(6))
def test_every_column_combination_exports_in_csv_and_xlsx(tenant_a, patients, file_format, selected, which):
    ids, custom = patients
    columns = column_sets(custom)[which]
    data = {"columns": columns, "format": file_format}
    wanted = set(EXPECTED)
    if selected:  # ticked on the list: only those two
        wanted = {"+14155550142", "+14155550144"}
        data["contact"] = [ids[p] for p in sorted(wanted)]
    response = tenant_a.client_for("owner").post(reverse("contacts:export"), data)
    assert response.status_code == 200 and response.streaming
    rows = exported_rows(response, file_format)
    header, body = rows[0], rows[1:]
    assert len(header) == len(columns) and len(body) == len(wanted)
    phone_at = columns.index("phone") if "phone" in columns else None
    for row in body:
        phone = row[phone_at].lstrip("'")
        assert phone in wanted
        for column, cell in zip(columns, row, strict=True):
            key = column.removeprefix("custom:") if column == custom else column
            if column == custom:
                key = "insurer"
            if key in EXPECTED[phone]:
                assert cell.lstrip("'") == EXPECTED[phone][key], (column, file_format)


def test_the_csv_export_with_tags_no_longer_fails_once_the_view_returned(tenant_a, patients):
    # The reported 500: tag names were read while the body streamed, after the scope closed.
    response = tenant_a.client_for("owner").post(reverse("contacts:export"),
                                                 {"columns": ["phone", "tags"], "format": "csv"})
    rows = exported_rows(response, "csv")
    assert sorted(r[1] for r in rows[1:]) == ["", "diabetes, flu", "vip"]


def test_an_export_is_recorded_started_then_completed_only_after_its_last_byte(tenant_a, patients):
    response = tenant_a.client_for("owner").post(reverse("contacts:export"),
                                                 {"columns": ["phone", "tags"], "format": "csv"})
    before = [e.action for e in actions(tenant_a)]
    assert before[-1] == AuditAction.CONTACTS_EXPORTED
    assert AuditAction.CONTACTS_EXPORT_COMPLETED not in before  # nothing sent yet
    started = actions(tenant_a)[-1]
    exported_rows(response, "csv")
    completed = actions(tenant_a)[-1]
    assert completed.action == AuditAction.CONTACTS_EXPORT_COMPLETED
    assert completed.detail == {"rows": 3, "format": "csv", "started_event": started.pk}
    # Recorded with the request's context and actor, although the request had ended.
    assert completed.request_id == started.request_id != ""
    assert (completed.actor_type, completed.actor_id) == (started.actor_type, started.actor_id)


def test_an_export_cut_off_midway_is_recorded_as_interrupted(tenant_a, patients, monkeypatch):
    monkeypatch.setattr(exporting, "_BATCH", 1)  # several chunks for three contacts
    with tenant_a.scope():
        _, body = exporting.export_contacts(actor=actor(tenant_a, "owner"), queryset=Contact.objects.all(),
                                            columns=["phone", "tags"], file_format="csv")
    next(body)
    body.close()  # what the WSGI server does (through response.close()) when the client goes away
    last = actions(tenant_a)[-1]
    assert last.action == AuditAction.CONTACTS_EXPORT_INTERRUPTED
    assert last.detail["why"] == "closed"
    assert AuditAction.CONTACTS_EXPORT_COMPLETED not in [e.action for e in actions(tenant_a)]


def test_export_refuses_an_actor_without_the_permission_or_of_another_organisation(tenant_a, tenant_b,
                                                                                    patients):
    from django.core.exceptions import PermissionDenied

    with tenant_a.scope():
        queryset = Contact.objects.all()
        with pytest.raises(PermissionDenied):
            exporting.export_contacts(actor=actor(tenant_a, "staff"), queryset=queryset, columns=["phone"],
                                      file_format="csv")
    with tenant_a.scope():
        queryset = Contact.objects.all()
        # Another organisation's owner handed A's queryset exports none of A's rows.
        _, body = exporting.export_contacts(actor=actor(tenant_b, "owner"), queryset=queryset,
                                            columns=["phone", "tags"], file_format="csv")
    rows = list(csv.reader(io.StringIO(b"".join(body).decode("utf-8-sig"))))
    assert rows == [["Phone", "Tags"]]


def test_the_stream_helper_reenters_the_scope_and_audit_context_for_every_chunk(tenant_a):
    seen = []

    def body():
        for n in range(3):
            seen.append((Tag.objects.count(), audit_context.current().request_id))  # raises out of scope
            yield str(n).encode()

    token = audit_context.bind(request_id="req-123456")
    try:
        with tenant_a.scope():
            Tag.objects.create(organization=tenant_a.org, name="t")
            finished = []
            stream = stream_in_scope(body(), organization=tenant_a.org, on_complete=finished.append)
    finally:
        audit_context.reset(token)
    assert b"".join(stream) == b"012"
    assert seen == [(1, "req-123456")] * 3 and finished == [3]
    # …and nothing leaks into the code that pulls the chunks.
    with pytest.raises(ScopeError):
        Tag.objects.count()
    assert audit_context.current().request_id == ""


def test_the_error_file_streams_in_scope_and_is_audited_once_fully_sent(tenant_a):
    client = tenant_a.client_for("staff")
    data = csv_bytes([["First name", "Phone"], ["Marie", "4155550142"], ["Bad", "12"]])
    map_url = client.post(reverse("contacts:import_upload"), {"file": io.BytesIO(data)})["Location"]
    progress_url = client.post(map_url, {"column_0": "first_name", "column_1": "phone", "region": "US",
                                         "on_existing": "update"})["Location"]
    result_url = client.get(progress_url.rstrip("/") + "/status/").json()["result_url"]
    response = client.get(result_url.replace("result/", "errors.csv"))
    assert AuditAction.EXPORT_DOWNLOADED not in [e.action for e in actions(tenant_a)]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["row"] for r in rows] == ["3"]
    downloaded = actions(tenant_a)[-1]
    assert downloaded.action == AuditAction.EXPORT_DOWNLOADED
    assert downloaded.detail == {"kind": "contact_import_errors", "lines": 1}


def test_combinations_cover_every_column(patients):
    _, custom = patients
    covered = set(itertools.chain.from_iterable(column_sets(custom)))
    assert covered == set(exporting.STANDARD_COLUMNS) | {custom}


def test_scope_helper_is_used_with_the_actors_organisation(tenant_a, patients):
    with scope(organization=tenant_a.org):
        queryset = Contact.objects.all()
        _, body = exporting.export_contacts(actor=actor(tenant_a, "owner"), queryset=queryset,
                                            columns=["phone", "tags"], file_format="xlsx")
    assert load_workbook(io.BytesIO(b"".join(body))).active.max_row == 4


def test_an_xlsx_export_writes_nothing_to_disk_and_streams_in_chunks(tenant_a, patients, monkeypatch):
    import tempfile

    def no_temporary_files(*args, **kwargs):
        raise AssertionError("an export must not write a temporary file")

    for name in ("NamedTemporaryFile", "TemporaryFile", "mkstemp", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    monkeypatch.setattr(exporting, "_BATCH", 1)
    with tenant_a.scope():
        _, body = exporting.export_contacts(actor=actor(tenant_a, "owner"), queryset=Contact.objects.all(),
                                            columns=["first_name", "phone", "tags"], file_format="xlsx")
    first = next(body)
    assert first.startswith(b"PK")  # the first bytes go out before the rows are read
    data = first + b"".join(body)
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Contacts"
    assert sorted(sheet.cell(row=r, column=2).value for r in range(2, 5)) == sorted(EXPECTED)


def test_the_xlsx_writer_keeps_text_as_text_and_drops_characters_xml_cannot_hold():
    from contacts.xlsx_stream import column_letter, stream_workbook

    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    rows = [["=1+1", "0042", "a\x00b <&> \"q\"", "  spaced  "], ["", "x", "", ""]]
    data = b"".join(stream_workbook(["H1", "H2", "H3", "H4"], rows, sheet="S&P"))
    sheet = load_workbook(io.BytesIO(data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1] == ["=1+1", "0042", 'ab <&> "q"', "  spaced  "]
    assert {c.data_type for c in sheet[2]} == {"s"}  # never a formula or a number
    assert values[2] == [None, "x", None, None]
    assert sheet.title == "S&P"


def test_an_exported_xlsx_imports_back_without_changes(tenant_a, tenant_b, patients):
    response = tenant_a.client_for("owner").post(reverse("contacts:export"), {
        "columns": ["first_name", "last_name", "phone", "email", "tags"], "format": "xlsx"})
    job = run_file(tenant_b, b"".join(response.streaming_content), "export.xlsx")
    assert (job.file_format, job.created_count, job.failed_count) == ("xlsx", 3, 0)
    with tenant_b.scope():
        again = {c.phone: (c.first_name, c.email or "", sorted(t.name for t in c.tags.all()))
                 for c in Contact.objects.all()}
    assert again["+14155550142"] == ("Marie", "marie@example.org", ["diabetes", "flu"])
    assert again["+14155550143"] == ("José", "", [])
