"""The contact-imports API: a file and its mapping in, the wizard's services run it (eagerly
here), the import polled for counts, the wizard's error file out — audited with the key as
actor, refused in the one error shape, nothing left stored by a refused upload."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled
from openpyxl import Workbook

from audit import AuditAction
from audit.models import AuditEvent
from contacts.custom_fields import define_custom_field
from contacts.models import Contact, ImportJob
from tests.api.conftest import client_with, make_key
from tests.factories import ContactFactory, system_actor

pytestmark = pytest.mark.django_db

URL = "/api/v1/contact-imports"
HEADER = ["First name", "Last name", "Mobile", "Email"]
MAPPING = {"First name": "first_name", "Last name": "last_name", "Mobile": "phone", "Email": "email"}
GOOD = [["Marie", "Curie", "(415) 555-0142", "marie@example.org"],
        ["José", "García", "415.555.0143", ""]]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Stored uploads, error files and upload spools go to a per-test folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def _post(client, data: bytes, name: str = "patients.csv", mapping=MAPPING, idempotency_key=None, **fields):
    form = {"file": SimpleUploadedFile(name, data),
            "mapping": mapping if isinstance(mapping, str) else json.dumps(mapping), **fields}
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    return client.post(URL, form, format="multipart", **headers)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


def _events(tenant, action):
    with tenant.scope():
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("seq"))


def _jobs(tenant) -> list[ImportJob]:
    with tenant.scope():
        return list(ImportJob.objects.all())


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "imports"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _phones(tenant) -> dict[str, Contact]:
    with tenant.scope():
        return {c.phone: c for c in Contact.objects.all()}


# --- upload, run, poll ----------------------------------------------------------------------------
def test_a_csv_with_its_mapping_is_imported_and_the_import_reports_its_counts(tenant_a, api_a):
    response = _post(api_a, _csv([HEADER, *GOOD]))
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["finished"], body["progress"]) == ("done", True, 100)
    assert body["file_format"] == "csv"
    assert body["rows"] == {"total": 2, "processed": 2, "created": 2, "updated": 0, "skipped": 0,
                            "over_cap": 0, "failed": 0, "blank": 0}
    assert body["error_file"] == {"rows": 0, "url": None}
    assert response["Location"].endswith(f"{URL}/{body['id']}")
    phones = _phones(tenant_a)
    assert (phones["+14155550142"].first_name, phones["+14155550142"].email) == ("Marie", "marie@example.org")
    assert phones["+14155550143"].last_name == "García"
    polled = api_a.get(f"{URL}/{body['id']}")
    assert polled.status_code == 200 and polled.json() == body


def test_an_xlsx_file_is_imported(tenant_a, api_a):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Phone"])
    sheet.append(["Curie, Marie", 4155550142])  # Excel keeps phones as numbers
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = _post(api_a, buffer.getvalue(), "export.xlsx", {"Name": "full_name", "Phone": "phone"})
    assert response.status_code == 202, response.content
    assert (response.json()["file_format"], response.json()["rows"]["created"]) == ("xlsx", 1)
    marie = _phones(tenant_a)["+14155550142"]
    assert (marie.first_name, marie.last_name) == ("Marie", "Curie")


def test_a_file_without_a_header_row_is_mapped_by_column_number(tenant_a, api_a):
    response = _post(api_a, _csv([["4155550142", "Marie"]]), mapping={"Column 1": "phone",
                                                                       "Column 2": "first_name"},
                     first_row="data")
    assert response.status_code == 202, response.content
    assert response.json()["has_header_row"] is False and response.json()["rows"]["created"] == 1
    assert _phones(tenant_a)["+14155550142"].first_name == "Marie"


def test_existing_contacts_are_skipped_when_asked_and_custom_fields_are_filled(tenant_a, api_a):
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org, phone="+14155550142", first_name="Kept")
        define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org, label="Insurer",
                            field_type="text", key="insurer")
    targets = api_a.get(f"{URL}/mapping-targets").json()["targets"]
    assert {"value": "custom:insurer", "label": "Custom field: Insurer (text)"} in targets
    data = _csv([["Phone", "First name", "Insurer"], ["4155550142", "Changed", "Acme"],
                 ["4155550143", "New", "Acme"]])
    response = _post(api_a, data, mapping={"Phone": "phone", "First name": "first_name",
                                           "Insurer": "custom:insurer"}, on_existing="skip")
    assert response.status_code == 202, response.content
    rows = response.json()["rows"]
    assert (rows["created"], rows["updated"], rows["skipped"]) == (1, 0, 1)
    phones = _phones(tenant_a)
    assert phones["+14155550142"].first_name == "Kept"
    assert phones["+14155550143"].custom_values == {"insurer": "Acme"}


def test_a_column_mapped_to_a_new_field_defines_it_named_after_the_column(tenant_a, key_a, api_a):
    data = _csv([["Mobile", "Visits"], ["4155550142", "3"]])
    response = _post(api_a, data, mapping={"Mobile": "phone", "Visits": "new:number"})
    assert response.status_code == 202, response.content
    assert _phones(tenant_a)["+14155550142"].custom_values == {"visits": 3}
    assert {"key": "visits", "field_type": "number"}.items() <= api_a.get(
        "/api/v1/custom-fields").json()["results"][0].items()
    defined = _events(tenant_a, AuditAction.CUSTOM_FIELD_CHANGED)[-1]
    assert (defined.actor_type, defined.actor_id) == ("api_key", key_a.split(".")[0])


# --- the error file ---------------------------------------------------------------------------------
def test_bad_rows_are_listed_by_row_number_in_the_error_file_while_good_rows_land(tenant_a, key_a):
    client = client_with(key_a)
    rows = [HEADER, GOOD[0], ["Bad", "Phone", "12", ""], ["Bad", "Mail", "415-555-0145", "not-an-email"],
            GOOD[1]]
    body = _post(client, _csv(rows)).json()
    assert (body["rows"]["created"], body["rows"]["failed"]) == (2, 2)
    assert body["error_file"]["rows"] == 2
    assert body["error_file"]["url"].endswith(f"{URL}/{body['id']}/errors")
    assert set(_phones(tenant_a)) == {"+14155550142", "+14155550143"}

    response = client.get(f"{URL}/{body['id']}/errors", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (f'attachment; filename="import-{body["id"]}'
                                               '-rows-not-imported.csv"')
    text = b"".join(response.streaming_content).decode()
    listed = {int(r["row"]): r for r in csv.DictReader(io.StringIO(text))}
    assert set(listed) == {3, 4}
    assert listed[3]["column"] == "Mobile" and "not a valid number" in listed[3]["reason"]
    assert "e-mail" in listed[4]["reason"]
    assert "not-an-email" not in text and "Bad" not in text  # reasons, never values

    downloaded = _events(tenant_a, AuditAction.EXPORT_DOWNLOADED)
    assert len(downloaded) == 1
    assert (downloaded[0].actor_type, downloaded[0].actor_id) == ("api_key", key_a.split(".")[0])
    assert (downloaded[0].target_id, downloaded[0].detail) == (str(body["id"]),
                                                               {"kind": "contact_import_errors", "lines": 2})


def test_the_error_file_neutralises_a_header_that_looks_like_a_formula(tenant_a, api_a):
    header = ["First name", "Last name", '=HYPERLINK("http://evil.example","x")', "Email"]
    mapping = {"First name": "first_name", "Last name": "last_name", header[2]: "phone", "Email": "email"}
    body = _post(api_a, _csv([header, ["Bad", "Phone", "12", ""]]), mapping=mapping).json()
    text = b"".join(api_a.get(f"{URL}/{body['id']}/errors").streaming_content).decode()
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["column"] == "'" + header[2]  # shown as text, never run as a formula


def test_an_import_that_never_started_has_no_error_file(tenant_a, api_a):
    with tenant_a.scope():
        job = ImportJob.objects.create(organization=tenant_a.org, file_format="csv")
    error = _error(api_a.get(f"{URL}/{job.pk}/errors"))
    assert error["code"] == "no_error_file"


# --- refusals -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "name"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "photo.png"),
    (b"%PDF-1.7\n\x00\x01\x02binary", "letter.pdf"),
    (b"just some text, no phone", "patients.xlsx"),  # named like Excel, is not
    (b"", "empty.csv"),
])
def test_a_file_that_is_not_a_spreadsheet_is_a_400_and_nothing_is_stored(tenant_a, api_a, settings, data,
                                                                         name):
    response = _post(api_a, data, name)
    assert response.status_code == 400
    error = _error(response)
    assert error["field"] == "file" and error["code"] in ("invalid_file", "validation_error")
    assert _jobs(tenant_a) == [] and _stored_files(settings) == []


def test_an_oversized_file_is_a_413_and_nothing_is_stored(tenant_a, api_a, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 100
    response = _post(api_a, _csv([HEADER, *GOOD * 5]))
    assert response.status_code == 413
    assert (_error(response)["code"], _error(response)["field"]) == ("file_too_large", "file")
    # A body that cannot hold an allowed file is refused before it is read.
    huge = _post(api_a, b"Mobile\r\n" + b"4155550142\r\n" * 100_000, mapping={"Mobile": "phone"})
    assert huge.status_code == 413 and _error(huge)["code"] == "file_too_large"
    assert _jobs(tenant_a) == [] and _stored_files(settings) == []


@pytest.mark.parametrize(("mapping", "says"), [
    ({"Mobile": "phone", "Nickname": "first_name"}, "entry 2 names no column"),  # not in the file
    ({"mobile": "phone"}, "case included"),
    ({"Mobile": "phone", "First name": "nickname"}, "entry 2 names no field"),
    ({"First name": "first_name"}, "Map one column to Phone"),
    ({"Mobile": "phone", "Email": "phone"}, "Two columns are mapped"),
    ('{"Mobile": "phone", "Mobile ": "email"}', "more than once (entry 2)"),
    ('["phone"]', "JSON object"),
    ("Mobile=phone", "JSON object"),
    ({"Mobile": 1}, "JSON string"),
])
def test_a_mapping_the_import_cannot_use_is_a_400_on_mapping_and_nothing_is_stored(
        tenant_a, api_a, settings, mapping, says):
    response = _post(api_a, _csv([HEADER, *GOOD]), mapping=mapping)
    assert response.status_code == 400, response.content
    error = _error(response)
    assert error["field"] == "mapping"
    assert says in " ".join(d["message"] for d in error["details"])
    assert "Nickname" not in str(error)  # column names are matched, never echoed
    assert _jobs(tenant_a) == [] and _stored_files(settings) == [] and _phones(tenant_a) == {}


def test_unknown_or_repeated_form_fields_and_json_bodies_are_refused(tenant_a, api_a):
    assert _error(_post(api_a, _csv([HEADER, *GOOD]), tags="vip"))["field"] == "tags"
    assert _error(_post(api_a, _csv([HEADER, *GOOD]), on_existing="merge"))["field"] == "on_existing"
    assert _error(_post(api_a, _csv([HEADER, *GOOD]), default_region="USA"))["field"] == "default_region"
    twice = api_a.post(URL, {"file": SimpleUploadedFile("p.csv", _csv([HEADER, *GOOD])),
                             "mapping": [json.dumps(MAPPING), json.dumps({"Mobile": "phone"})]},
                       format="multipart")
    assert _error(twice)["field"] == "mapping"
    assert api_a.post(URL, {"mapping": MAPPING}, format="json").status_code == 415
    assert _error(api_a.get(f"{URL}?colour=blue"))["field"] == "colour"
    assert _jobs(tenant_a) == []


def test_a_read_only_key_cannot_upload_or_see_imports(tenant_a, api_a, settings):
    done = _post(api_a, _csv([HEADER, *GOOD])).json()
    reader = client_with(make_key(tenant_a, ["contacts:read"]))
    refused = _post(reader, _csv([HEADER, ["Grace", "Hopper", "4155550199", ""]]))
    assert refused.status_code == 403 and _error(refused)["code"] == "permission_denied"
    for path in (URL, f"{URL}/{done['id']}", f"{URL}/{done['id']}/errors", f"{URL}/mapping-targets"):
        assert reader.get(path).status_code == 403, path
    assert len(_jobs(tenant_a)) == 1 and "+14155550199" not in _phones(tenant_a)


def test_another_organisations_import_is_a_404(tenant_a, tenant_b, api_a, api_b):
    done = _post(api_a, _csv([HEADER, ["Bad", "Phone", "12", ""], *GOOD])).json()
    for path in (f"{URL}/{done['id']}", f"{URL}/{done['id']}/errors"):
        assert _error(api_b.get(path))["code"] == "not_found", path
    assert api_b.get(URL).json()["results"] == []
    assert _events(tenant_a, AuditAction.EXPORT_DOWNLOADED) == []
    with scopes_disabled():
        assert ImportJob.objects.filter(organization=tenant_b.org).count() == 0


def test_an_idempotent_upload_retried_imports_once(tenant_a, api_a):
    data = _csv([HEADER, *GOOD])
    first = _post(api_a, data, idempotency_key="import-1")
    again = _post(api_a, data, idempotency_key="import-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert len(_jobs(tenant_a)) == 1 and len(_phones(tenant_a)) == 2
    assert len(_events(tenant_a, AuditAction.CONTACTS_IMPORTED)) == 1


def _multipart(boundary: str, data: bytes, mapping: dict) -> bytes:
    """A multipart body as curl or requests build it, with the boundary they chose this time."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"\r\n\r\n'
             f"{json.dumps(mapping)}\r\n".encode(),
             f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="patients.csv"\r\n'
             "Content-Type: text/csv\r\n\r\n".encode() + data + b"\r\n",
             f"--{boundary}--\r\n".encode()]
    return b"".join(parts)


def test_a_retry_with_a_new_multipart_boundary_is_the_same_request(tenant_a, api_a):
    data = _csv([HEADER, *GOOD])

    def send(boundary: str, body: bytes):
        return api_a.generic("POST", URL, body, content_type=f"multipart/form-data; boundary={boundary}",
                             HTTP_IDEMPOTENCY_KEY="import-2")

    first = send("----curl1a2b3c", _multipart("----curl1a2b3c", data, MAPPING))
    again = send("----requests9z8y", _multipart("----requests9z8y", data, MAPPING))
    assert first.status_code == again.status_code == 202, again.content
    assert again["Idempotent-Replayed"] == "true" and len(_jobs(tenant_a)) == 1
    other_file = _multipart("----x", _csv([HEADER, GOOD[0]]), MAPPING)
    assert _error(send("----x", other_file))["code"] == "idempotency_key_reused"
    assert len(_jobs(tenant_a)) == 1


def test_an_idempotent_upload_larger_than_the_in_memory_limit_is_taken(tenant_a, api_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000  # the fingerprint must not read the body into memory
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000
    rows = [HEADER, *[[f"P{n}", "Lovelace", f"+1212555{n:04d}", ""] for n in range(200)]]
    response = _post(api_a, _csv(rows), idempotency_key="import-3")
    assert response.status_code == 202, response.content
    assert len(_phones(tenant_a)) == 200


# --- the list ---------------------------------------------------------------------------------------
def test_the_list_is_cursor_paginated_filters_by_status_and_shows_no_file_names(tenant_a, api_a):
    for n in range(3):
        _post(api_a, _csv([HEADER, [f"P{n}", "X", f"415555020{n}", ""]]), name="henrietta-lacks.csv")
    page = api_a.get(f"{URL}?page_size=2")
    assert page.status_code == 200 and len(page.json()["results"]) == 2 and page.json()["next"]
    rest = api_a.get(page.json()["next"]).json()["results"]
    ids = [row["id"] for row in page.json()["results"] + rest]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert len(api_a.get(f"{URL}?status=done").json()["results"]) == 3
    assert api_a.get(f"{URL}?status=failed").json()["results"] == []
    assert _error(api_a.get(f"{URL}?status="))["field"] == "status"
    assert "henrietta" not in page.content.decode().lower() and "Mobile" not in page.content.decode()


def test_no_patient_value_reaches_the_logs(tenant_a, api_a, caplog):
    with caplog.at_level("DEBUG"):
        _post(api_a, _csv([HEADER, ["Secretname", "Patient", "4155550177", "hidden@example.org"],
                           ["Other", "Secret", "12", ""]]))
    logged = " ".join(record.getMessage() for record in caplog.records)
    for value in ("Secretname", "4155550177", "hidden@example.org", "patients.csv"):
        assert value not in logged


def test_an_import_a_worker_finishes_later_is_audited_with_the_key_that_started_it(
        tenant_a, key_a, api_a, monkeypatch):
    """The worker's CONTACTS_IMPORTED event is written long after the request: it names the key."""
    from contacts import tasks
    from contacts.importing.runner import run_import

    queued: list[int] = []
    monkeypatch.setattr(tasks.run_contact_import, "delay", lambda **kwargs: queued.append(kwargs["job_id"]))
    body = _post(api_a, _csv([HEADER, *GOOD])).json()
    assert queued == [body["id"]] and _events(tenant_a, AuditAction.CONTACTS_IMPORTED) == []
    with tenant_a.scope():  # as the worker runs it: in the organisation's scope, no request
        run_import(ImportJob.objects.get(pk=body["id"]))
    [event] = _events(tenant_a, AuditAction.CONTACTS_IMPORTED)
    assert (event.actor_type, event.actor_id) == ("api_key", key_a.split(".")[0])
