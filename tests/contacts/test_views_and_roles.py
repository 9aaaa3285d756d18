"""The web doors: roles (403), other organisations (404), audit sequences, export safety."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled
from openpyxl import load_workbook

from audit import AuditAction
from audit.models import AuditEvent
from contacts.models import Contact, ContactTag
from contacts.services import create_contact
from tests.contacts.helpers import csv_bytes
from tests.factories import system_actor


def patient(tenant, **values):
    values = {"first_name": "Marie", "last_name": "Curie", "phone": "+14155550142", **values}
    with tenant.scope():
        return create_contact(actor=system_actor(tenant.org), organization=tenant.org, **values)


def actions(tenant) -> list[AuditAction]:
    with scopes_disabled():  # test inspection of the audit log
        return [AuditAction(a) for a in AuditEvent.objects.filter(organization=tenant.org)
                .order_by("seq").values_list("action", flat=True)]


def export_post(client, **extra):
    data = {"columns": ["first_name", "phone", "email"], "format": "csv", **extra}
    return client.post(reverse("contacts:export"), data)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(("role", "status"),
                         [("owner", 200), ("admin", 200), ("staff", 403), ("viewer", 403)])
def test_only_owners_and_admins_can_export(tenant_a, role, status):
    patient(tenant_a)
    assert export_post(tenant_a.client_for(role)).status_code == status


def test_viewers_can_see_but_not_change_delete_or_import(tenant_a):
    contact = patient(tenant_a)
    viewer = tenant_a.client_for("viewer")
    assert viewer.get(reverse("contacts:list")).status_code == 200
    assert viewer.get(reverse("contacts:detail", args=[contact.pk])).status_code == 200
    for url in (reverse("contacts:create"), reverse("contacts:edit", args=[contact.pk]),
                reverse("contacts:delete", args=[contact.pk]), reverse("contacts:import_upload")):
        assert viewer.get(url).status_code == 403, url
    assert viewer.post(reverse("contacts:delete", args=[contact.pk])).status_code == 403
    assert viewer.post(reverse("contacts:bulk_tag"), {"contact": [contact.pk], "tag_name": "x",
                                                       "action": "tag"}).status_code == 403
    with tenant_a.scope():
        assert Contact.objects.filter(pk=contact.pk).exists()


def test_staff_can_import_but_not_delete(tenant_a):
    contact = patient(tenant_a)
    staff = tenant_a.client_for("staff")
    assert staff.get(reverse("contacts:import_upload")).status_code == 200
    assert staff.post(reverse("contacts:delete", args=[contact.pk])).status_code == 403


def test_another_organisations_contact_and_import_are_404(tenant_a, tenant_b):
    contact = patient(tenant_a)
    outsider = tenant_b.client_for("owner")
    for name in ("detail", "edit", "delete"):
        assert outsider.get(reverse(f"contacts:{name}", args=[contact.pk])).status_code == 404, name
    staff_a = tenant_a.client_for("staff")
    upload = staff_a.post(reverse("contacts:import_upload"),
                          {"file": io.BytesIO(csv_bytes([["Phone"], ["4155550143"]]))})
    job_url = upload["Location"]
    assert "/map/" in job_url
    assert tenant_b.client_for("staff").get(job_url).status_code == 404
    assert b"Marie" not in outsider.get(reverse("contacts:list")).content


def test_bulk_tagging_ignores_other_organisations_ids(tenant_a, tenant_b):
    mine = patient(tenant_a)
    theirs = patient(tenant_b)
    response = tenant_a.client_for("staff").post(reverse("contacts:bulk_tag"), {
        "contact": [mine.pk, theirs.pk], "tag_name": "flu-2025", "action": "tag"})
    assert response.status_code == 302
    with tenant_a.scope():
        assert list(ContactTag.objects.values_list("contact_id", flat=True)) == [mine.pk]
    with tenant_b.scope():
        assert ContactTag.objects.count() == 0


def test_list_filters_by_tag_consent_and_channel(tenant_a):
    with tenant_a.scope():
        a = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, first_name="Anna",
                           phone="+14155550101", tags=["vip"])
        create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, first_name="Bert",
                       phone="+14155550102",
                       preferred_channel="whatsapp")
        from contacts.services import set_consent
        set_consent(actor=system_actor(a), contact=a, channel="sms", opted_in=False, source="staff")
        tag_id = a.tags.get().pk
    client = tenant_a.client_for("viewer")

    def names(**params):
        if "q" in params:  # a search is POSTed (no PHI in URLs) and shown under its token
            response = client.post(reverse("contacts:search"), params, follow=True)
        else:
            response = client.get(reverse("contacts:list"), params)
        return [c.first_name for c, _ in response.context["rows"]]

    assert names(tag=tag_id) == ["Anna"]
    assert names(consent="opted_out", consent_channel="sms") == ["Anna"]
    assert names(consent="unknown", consent_channel="sms") == ["Bert"]
    assert names(channel="whatsapp") == ["Bert"]
    assert names(q="bert") == ["Bert"]
    assert names(q="(415) 555-0101") == ["Anna"]


def test_audit_sequence_of_a_contacts_life(tenant_a):
    client = tenant_a.client_for("admin")
    response = client.post(reverse("contacts:create"), {"first_name": "Ada", "phone": "415 555 0199",
                                                        "preferred_channel": "sms"})
    assert response.status_code == 302
    contact_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    client.get(reverse("contacts:detail", args=[contact_id]))
    client.post(reverse("contacts:edit", args=[contact_id]), {
        "first_name": "Ada", "last_name": "Lovelace", "phone": "415 555 0199", "preferred_channel": "sms"})
    export_post(client)
    client.post(reverse("contacts:delete", args=[contact_id]))
    assert actions(tenant_a) == [
        AuditAction.CONTACT_CREATED, AuditAction.CONTACT_VIEWED, AuditAction.CONTACT_VIEWED,
        AuditAction.CONTACT_UPDATED, AuditAction.CONTACTS_EXPORTED, AuditAction.CONTACT_DELETED,
    ]
    with scopes_disabled():
        exported = AuditEvent.objects.get(organization=tenant_a.org, action=AuditAction.CONTACTS_EXPORTED)
        updated = AuditEvent.objects.get(organization=tenant_a.org, action=AuditAction.CONTACT_UPDATED)
    assert exported.detail["rows"] == 1
    assert updated.detail == {"fields": ["last_name"]}


def test_import_wizard_audits_counts_and_the_error_file_download(tenant_a):
    client = tenant_a.client_for("staff")
    data = csv_bytes([["First name", "Phone"], ["Marie", "4155550142"], ["Bad", "12"]])
    map_url = client.post(reverse("contacts:import_upload"), {"file": io.BytesIO(data)})["Location"]
    page = client.get(map_url)
    assert b"Marie" in page.content  # the preview shows the first rows
    progress_url = client.post(map_url, {"column_0": "first_name", "column_1": "phone", "region": "US",
                                         "on_existing": "update"})["Location"]
    status = client.get(progress_url.rstrip("/") + "/status/").json()
    assert (status["finished"], status["percent"], status["created"], status["failed"]) == (True, 100, 1, 1)
    result = client.get(status["result_url"])
    assert b"Download the list of rows not imported" in result.content
    errors = client.get(status["result_url"].replace("result/", "errors.csv"))
    rows = list(csv.DictReader(io.StringIO(body(errors).decode())))
    assert [r["row"] for r in rows] == ["3"]
    errors_url = status["result_url"].replace("result/", "errors.csv")
    assert tenant_a.client_for("viewer").get(errors_url).status_code == 403
    assert actions(tenant_a) == [AuditAction.CONTACTS_IMPORTED, AuditAction.EXPORT_DOWNLOADED]
    with scopes_disabled():
        imported = AuditEvent.objects.get(organization=tenant_a.org, action=AuditAction.CONTACTS_IMPORTED)
    assert (imported.detail["created"], imported.detail["failed"], imported.detail["rows"]) == (1, 1, 2)


def test_csv_export_neutralises_formulas_and_phones(tenant_a):
    # "=" may begin a valid address's local part (an address starting with "@" is refused on entry).
    patient(tenant_a, first_name="=HYPERLINK(\"http://evil\")", last_name="-2+3", email="=sum@example.org")
    response = tenant_a.client_for("owner").post(reverse("contacts:export"), {
        "columns": ["first_name", "last_name", "phone", "email"], "format": "csv"})
    text = body(response).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row == ["'=HYPERLINK(\"http://evil\")", "'-2+3", "'+14155550142", "'=sum@example.org"]
    assert response["Cache-Control"] == "no-store"


def test_xlsx_export_writes_text_cells_never_formulas(tenant_a):
    patient(tenant_a, first_name="=1+1")
    response = tenant_a.client_for("owner").post(reverse("contacts:export"), {
        "columns": ["first_name", "phone"], "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(body(response))).active
    name, phone = sheet.cell(row=2, column=1), sheet.cell(row=2, column=2)
    assert (name.value, name.data_type) == ("'=1+1", "s")
    assert (phone.value, phone.data_type) == ("+14155550142", "s")  # typed text: stays exact E.164


def test_an_exported_csv_imports_back_without_changes(tenant_a, tenant_b):
    patient(tenant_a, email="marie@example.org")
    exported = body(tenant_a.client_for("owner").post(reverse("contacts:export"), {
        "columns": ["first_name", "last_name", "phone", "email"], "format": "csv"}))
    from tests.contacts.helpers import contacts_by_phone, run_file
    job = run_file(tenant_b, exported, "export.csv")
    assert (job.created_count, job.failed_count) == (1, 0)
    again = contacts_by_phone(tenant_b)["+14155550142"]
    assert (again.first_name, again.email) == ("Marie", "marie@example.org")
