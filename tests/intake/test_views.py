"""The staff pages: building a questionnaire, submissions (audited), exports, results, poster,
roles, and another organisation's ids answering 404."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django_scopes import scope
from openpyxl import load_workbook

from audit import AuditAction
from audit.models import AuditEvent
from campaigns.intake.models import ContactFieldConflict, Question, Questionnaire, Submission
from tests.factories import ContactFactory
from tests.intake.helpers import PATIENT, Patient, build

pytestmark = pytest.mark.django_db

FORM = [
    {"key": "first_name", "kind": "text", "prompt": "First name?"},
    {"key": "note", "kind": "text", "prompt": "Anything we should know?", "required": False},
    {
        "key": "visit",
        "kind": "multiple_choice",
        "prompt": "Why are you coming?",
        "choices": ["Pain", "Check-up"],
    },
]


def completed(tenant, answers=("José", '=HYPERLINK("http://evil.example")', "1,2"), phone=PATIENT):
    patient = Patient(tenant, phone=phone)
    patient.send("INTAKE")
    for answer in answers:
        patient.send(answer)
    return patient.submission()


def events(tenant, action) -> list[AuditEvent]:
    with scope(organization=tenant.org):
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("pk"))


def test_an_admin_builds_a_questionnaire_in_the_ui(tenant_a):
    client = tenant_a.client_for("admin")
    response = client.post(
        reverse("intake:create"),
        {
            "name": "Admission",
            "language": "es",
            "start_keywords": "ADMISION",
            "intro": "",
            "completion_message": "",
            "reminder_message": "",
            "expiry_message": "",
            "reminder_after_minutes": 240,
            "expire_after_minutes": 1440,
            "update_contact": "on",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    with scope(organization=tenant_a.org):
        questionnaire = Questionnaire.objects.get()
    add = reverse("intake:question_add", args=[questionnaire.pk])
    client.post(
        add,
        {
            "key": "dob",
            "kind": "date",
            "prompt": "¿Fecha de nacimiento?",
            "required": "on",
            "max_length": 500,
            "contact_field": "date_of_birth",
        },
    )
    client.post(
        add,
        {
            "key": "seguro",
            "kind": "single_choice",
            "prompt": "¿Tiene seguro?",
            "choices_text": "Sí\nNo\n",
            "required": "on",
            "max_length": 500,
        },
    )
    bad = client.post(
        add, {"key": "seguro", "kind": "text", "prompt": "Again?", "max_length": 500}, follow=True
    )
    assert "already uses the key" in bad.content.decode()
    with scope(organization=tenant_a.org):
        assert [(q.key, q.choices) for q in Question.objects.order_by("position")] == [
            ("dob", []),
            ("seguro", ["Sí", "No"]),
        ]
    page = client.get(reverse("intake:detail", args=[questionnaire.pk])).content.decode()
    assert "¿Tiene seguro?" in page and "v1" in page
    patient = Patient(tenant_a)
    patient.send("admision")
    assert patient.last().startswith("¡Hola! Org A Clinic necesita algunos datos")
    patient.send("31/02/1990")
    assert "esa fecha no existe" in patient.last()


def test_staff_and_viewers_cannot_build(tenant_a):
    questionnaire = build(tenant_a, FORM)
    for role in ("staff", "viewer"):
        client = tenant_a.client_for(role)
        assert client.get(reverse("intake:create")).status_code == 403
        assert (
            client.post(
                reverse("intake:question_add", args=[questionnaire.pk]),
                {"key": "x", "kind": "text", "prompt": "X?", "max_length": 10},
            ).status_code
            == 403
        )
        assert client.post(reverse("intake:delete", args=[questionnaire.pk])).status_code == 403
        assert client.get(reverse("intake:detail", args=[questionnaire.pk])).status_code == 200


def test_opening_a_submission_is_an_audited_phi_read(tenant_a):
    build(tenant_a, FORM)
    submission = completed(tenant_a)
    client = tenant_a.client_for("staff")
    listing = client.get(reverse("intake:submissions", args=[submission.questionnaire_id])).content.decode()
    assert f"Submission {submission.pk}" in listing and "José" not in listing  # the list shows no answers
    assert events(tenant_a, AuditAction.INTAKE_SUBMISSION_VIEWED) == []
    page = client.get(reverse("intake:submission", args=[submission.pk])).content.decode()
    assert "José" in page and "Pain, Check-up" in page
    [event] = events(tenant_a, AuditAction.INTAKE_SUBMISSION_VIEWED)
    assert event.detail == {"submission_id": submission.pk, "questionnaire_id": submission.questionnaire_id}
    assert client.post(reverse("intake:submission_review", args=[submission.pk])).status_code == 302
    with scope(organization=tenant_a.org):
        assert Submission.objects.get().reviewed_at is not None
    assert (
        tenant_a.client_for("viewer")
        .post(reverse("intake:submission_review", args=[submission.pk]))
        .status_code
        == 403
    )


def test_org_b_cannot_reach_org_a_rows_by_id(tenant_a, tenant_b):
    questionnaire = build(tenant_a, FORM)
    submission = completed(tenant_a)
    with scope(organization=tenant_a.org):
        question = Question.objects.first()
        session_id = submission.session_id
        conflict = ContactFieldConflict.objects.create(
            organization_id=tenant_a.org.pk, submission=submission, field="first_name", proposed="Josefa"
        )
        conflict_url = reverse("intake:conflict_resolve", args=[conflict.pk])
    client = tenant_b.client_for("owner")
    for url in (
        reverse("intake:detail", args=[questionnaire.pk]),
        reverse("intake:submissions", args=[questionnaire.pk]),
        reverse("intake:submission", args=[submission.pk]),
        reverse("intake:results", args=[questionnaire.pk]),
        reverse("intake:question_edit", args=[question.pk]),
        reverse("intake:poster", args=[questionnaire.pk]),
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("intake:export", args=[questionnaire.pk]),
        reverse("intake:delete", args=[questionnaire.pk]),
        reverse("intake:submission_review", args=[submission.pk]),
        reverse("intake:take_over", args=[session_id]),
        reverse("intake:question_delete", args=[question.pk]),
        conflict_url,
    ):
        assert client.post(url, {"format": "csv", "decision": "accept"}).status_code == 404, url
    with scope(organization=tenant_a.org):
        assert ContactFieldConflict.objects.get(pk=conflict.pk).status == "pending"  # untouched
    assert "José" not in client.get(reverse("intake:list")).content.decode()
    assert events(tenant_b, AuditAction.INTAKE_SUBMISSION_VIEWED) == []


def test_csv_export_has_a_bom_one_column_per_question_neutralised_formulas_and_an_audit_event(tenant_a):
    build(tenant_a, FORM)
    first = completed(tenant_a)
    completed(tenant_a, answers=("Zoë", "SKIP", "2"), phone="+14155550166")
    client = tenant_a.client_for("admin")
    response = client.post(reverse("intake:export", args=[first.questionnaire_id]), {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "Submission",
        "Submitted at (UTC)",
        "Version",
        "Contact id",
        "Reviewed",
        "First name?",
        "Anything we should know?",
        "Why are you coming?",
    ]
    assert rows[1][5:] == ["José", '\'=HYPERLINK("http://evil.example")', "Pain, Check-up"]
    assert rows[2][5:] == ["Zoë", "", "Check-up"]
    assert rows[1][0] == str(first.pk) and rows[1][2] == "1" and rows[1][4] == "no"
    [event] = events(tenant_a, AuditAction.EXPORT_DOWNLOADED)
    assert event.detail == {
        "questionnaire_id": first.questionnaire_id,
        "rows": 2,
        "format": "csv",
        "kind": "intake_submissions",
    }


def test_xlsx_export_is_typed_text_never_a_formula(tenant_a):
    build(tenant_a, FORM)
    submission = completed(tenant_a)
    response = tenant_a.client_for("owner").post(
        reverse("intake:export", args=[submission.questionnaire_id]), {"format": "xlsx"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][5:] == ["First name?", "Anything we should know?", "Why are you coming?"]
    assert values[1][5:] == ["José", '\'=HYPERLINK("http://evil.example")', "Pain, Check-up"]
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)
    assert events(tenant_a, AuditAction.EXPORT_DOWNLOADED)[0].detail["format"] == "xlsx"


def test_staff_cannot_export(tenant_a):
    questionnaire = build(tenant_a, FORM)
    assert (
        tenant_a.client_for("staff")
        .post(reverse("intake:export", args=[questionnaire.pk]), {"format": "csv"})
        .status_code
        == 403
    )
    assert events(tenant_a, AuditAction.EXPORT_DOWNLOADED) == []


def test_results_count_outcomes_and_where_patients_stopped(tenant_a):
    questionnaire = build(tenant_a, FORM)
    completed(tenant_a)
    stopper = Patient(tenant_a, phone="+14155550166")
    stopper.send("INTAKE")
    stopper.send("Ada")
    stopper.send("STOP")
    Patient(tenant_a, phone="+14155550177").send("INTAKE")
    response = tenant_a.client_for("viewer").get(reverse("intake:results", args=[questionnaire.pk]))
    results = response.context["results"]
    assert (results.started, results.completed, results.stopped, results.in_progress) == (3, 1, 1, 1)
    assert [(d.key, d.stopped_here, d.percent) for d in results.drop_off] == [
        ("first_name", 0, 0),
        ("note", 1, 100),
        ("visit", 0, 0),
    ]
    assert "<meter" in response.content.decode()


def test_poster_png_and_pdf_carry_the_keyword_link(tenant_a):
    questionnaire = build(tenant_a, FORM)
    patient = Patient(tenant_a)
    client = tenant_a.client_for("staff")
    url = reverse("intake:poster", args=[questionnaire.pk])
    png = client.post(url, {"channel": patient.channel.pk, "number": "", "file_format": "png"})
    assert (
        png.status_code == 200 and png.content.startswith(b"\x89PNG") and png["Content-Type"] == "image/png"
    )
    pdf = client.post(url, {"channel": patient.channel.pk, "number": "+14155550100", "file_format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    from campaigns.intake.poster import start_link

    assert start_link(kind="sms", number="+15005550006", keyword="INTAKE") == "sms:+15005550006?&body=INTAKE"
    assert (
        start_link(kind="whatsapp", number="+15005550006", keyword="ADMISIÓN")
        == "https://wa.me/15005550006?text=ADMISI%C3%93N"
    )
    bad = client.post(url, {"channel": patient.channel.pk, "number": "call us", "file_format": "png"})
    assert "not a phone number" in bad.content.decode()


def test_a_spanish_questionnaires_poster_speaks_spanish(tenant_a, monkeypatch):
    from PIL import Image

    from campaigns.intake import poster

    questionnaire = build(tenant_a, FORM, language="es", start_keywords="ADMISION")
    patient = Patient(tenant_a)
    drawn: list[str] = []
    real_centred = poster._centred
    monkeypatch.setattr(poster, "_centred", lambda draw, y, text, font: drawn.append(text)
                        or real_centred(draw, y, text, font))
    url = reverse("intake:poster", args=[questionnaire.pk])
    png = tenant_a.client_for("staff").post(url, {"channel": patient.channel.pk, "number": "+14155550100",
                                                  "file_format": "png"})
    assert png.status_code == 200
    assert drawn[1:] == ["Envíe ADMISION al +14155550100", "Escanee el código con la cámara de su teléfono"]
    description = Image.open(io.BytesIO(png.content)).text["Description"]
    assert description.startswith("Envíe ADMISION al +14155550100.") and "Text " not in description


def test_staff_send_a_questionnaire_from_the_contact_page(tenant_a):
    questionnaire = build(tenant_a, FORM)
    patient = Patient(tenant_a)
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
    client = tenant_a.client_for("staff")
    assert "Send questionnaire" in client.get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    from tests.intake.helpers import on_commit

    with on_commit():
        response = client.post(
            reverse("intake:start"),
            {"contact": contact.pk, "questionnaire": questionnaire.pk, "channel": patient.channel.pk},
        )
    assert response.status_code == 302
    assert patient.last().endswith("First name?")
    again = client.post(
        reverse("intake:start"),
        {"contact": contact.pk, "questionnaire": questionnaire.pk, "channel": patient.channel.pk},
    )
    assert "already answering" in again.content.decode()
    assert (
        tenant_a.client_for("viewer").get(reverse("intake:start") + f"?contact={contact.pk}").status_code
        == 403
    )


def test_a_photo_is_served_to_its_organisation_only_and_audited(tenant_a, tenant_b):
    from tests.intake.tenancy_rows import photo

    with scope(organization=tenant_a.org):
        item = photo(tenant_a.org)
    url = reverse("intake:photo", args=[item.pk])
    assert tenant_b.client_for("owner").get(url).status_code == 404
    response = tenant_a.client_for("staff").get(url)
    assert response.status_code == 200 and response.content == b"\x89PNG\r\n\x1a\n"
    assert response["Content-Type"] == "image/png" and response["Cache-Control"] == "no-store"
    [event] = events(tenant_a, AuditAction.INTAKE_PHOTO_VIEWED)
    assert event.detail == {"photo_id": item.pk, "session_id": item.session_id}
