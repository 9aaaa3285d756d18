"""Intake over the partner API: questionnaires, starting one for a patient, results, submissions
(decrypted and audited with the key as actor), review and the formula-safe export — the web UI's
selectors and services behind a second door, with its permissions, its refusals and its 404s."""

from __future__ import annotations

import csv
import io

import pytest
from django_scopes import scope
from openpyxl import load_workbook

from accounts.api_keys import API_SCOPES
from audit import AuditAction
from audit.models import AuditEvent
from campaigns.intake.models import IntakeSession, Submission
from contacts.services import set_consent
from messaging.models import Channel, Conversation, Message
from tests.api.conftest import client_with, make_key
from tests.factories import ContactFactory, system_actor
from tests.intake.helpers import PATIENT, Patient, build, on_commit

pytestmark = pytest.mark.django_db

FORM = [
    {"key": "first_name", "kind": "text", "prompt": "First name?"},
    {"key": "note", "kind": "text", "prompt": "Anything we should know?", "required": False},
    {"key": "visit", "kind": "multiple_choice", "prompt": "Why are you coming?",
     "choices": ["Pain", "Check-up"]},
]
# What staff need to start one: the send, and the reads it makes (questionnaire, contact, channel).
STARTER = ["messages:write", "campaigns:read", "contacts:read", "messages:read"]


def _events(tenant, action) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("seq"))


def _prefix(key: str) -> str:
    return key.split(".")[0]


def _completed(tenant, answers=("José", "=cmd", "1,2"), phone=PATIENT) -> Submission:
    patient = Patient(tenant, phone=phone)
    patient.send("INTAKE")
    for answer in answers:
        patient.send(answer)
    submission = patient.submission()
    assert submission is not None
    return submission


@pytest.fixture
def patient(tenant_a):
    """A questionnaire, a simulator channel and the contact who will answer on it."""
    questionnaire = build(tenant_a, FORM)
    phone = Patient(tenant_a)
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
    return questionnaire, phone, contact


def _start(api, questionnaire, body, **headers):
    with on_commit():
        return api.post(f"/api/v1/questionnaires/{questionnaire.pk}/start", body, format="json", **headers)


def _sessions(tenant) -> list[IntakeSession]:
    with tenant.scope():
        return list(IntakeSession.objects.all())


# --- questionnaires ------------------------------------------------------------------------------
def test_questionnaires_list_and_retrieve_show_the_current_questions(tenant_a, tenant_b):
    questionnaire = build(tenant_a, FORM)
    build(tenant_b, FORM, name="Org B's form")
    api = client_with(make_key(tenant_a, ["campaigns:read"]))
    listed = api.get("/api/v1/questionnaires")
    assert listed.status_code == 200, listed.content
    assert [row["name"] for row in listed.json()["results"]] == ["New patient intake"]
    got = api.get(f"/api/v1/questionnaires/{questionnaire.pk}").json()
    assert {k: got[k] for k in ("id", "name", "language", "keywords", "is_active", "version")} == {
        "id": questionnaire.pk, "name": "New patient intake", "language": "en", "keywords": ["INTAKE"],
        "is_active": True, "version": 1}
    assert got["questions"] == [
        {"key": "first_name", "type": "text", "prompt": "First name?", "required": True, "choices": [],
         "condition": None},
        {"key": "note", "type": "text", "prompt": "Anything we should know?", "required": False,
         "choices": [], "condition": None},
        {"key": "visit", "type": "multiple_choice", "prompt": "Why are you coming?", "required": True,
         "choices": ["Pain", "Check-up"], "condition": None},
    ]
    assert api.get("/api/v1/questionnaires?active=1").status_code == 400  # unknown filters are refused


def test_a_conditional_question_names_what_it_depends_on(tenant_a):
    questionnaire = build(tenant_a, [
        {"key": "insured", "kind": "yes_no", "prompt": "Insured?"},
        {"key": "insurer", "kind": "single_choice", "prompt": "Which?", "choices": ["Acme", "Other"],
         "condition_key": "insured", "condition_value": "yes"}])
    api = client_with(make_key(tenant_a, ["campaigns:read"]))
    got = api.get(f"/api/v1/questionnaires/{questionnaire.pk}")
    assert [(q["type"], q["condition"]) for q in got.json()["questions"]] == [
        ("yes_no", None), ("single_choice", {"question": "insured", "answer": "yes"})]


def test_results_count_outcomes_and_where_patients_stopped(tenant_a):
    questionnaire = build(tenant_a, FORM)
    _completed(tenant_a)
    stopper = Patient(tenant_a, phone="+14155550166")
    stopper.send("INTAKE")
    stopper.send("Ada")
    stopper.send("STOP")
    response = client_with(make_key(tenant_a, ["campaigns:read"])).get(
        f"/api/v1/questionnaires/{questionnaire.pk}/results")
    assert response.status_code == 200, response.content
    results = response.json()
    assert {k: results[k] for k in ("started", "in_progress", "completed", "stopped", "expired", "other",
                                    "completion_percent")} == {
        "started": 2, "in_progress": 0, "completed": 1, "stopped": 1, "expired": 0, "other": 0,
        "completion_percent": 50}
    assert [(d["key"], d["stopped_here"], d["percent"]) for d in results["drop_off"]] == [
        ("first_name", 0, 0), ("note", 1, 100), ("visit", 0, 0)]


# --- starting ------------------------------------------------------------------------------------
def test_starting_for_a_contact_texts_the_first_question(tenant_a, patient):
    questionnaire, phone, contact = patient
    with tenant_a.scope():  # the patient's open thread on that channel: the questions go into it
        thread = Conversation.objects.create(organization=tenant_a.org, channel=phone.channel,
                                             contact=contact)
    key = make_key(tenant_a, STARTER)
    response = _start(client_with(key), questionnaire, {"contact": contact.pk, "channel": phone.channel.pk})
    assert response.status_code == 201, response.content
    session = response.json()
    shown = ("questionnaire", "version", "contact", "channel", "conversation", "status", "via")
    assert {k: session[k] for k in shown} == {
        "questionnaire": questionnaire.pk, "version": 1, "contact": contact.pk, "channel": phone.channel.pk,
        "conversation": thread.pk, "status": "active", "via": "staff"}
    with tenant_a.scope():
        [sent] = Message.objects.filter(conversation=thread, direction="outbound", origin="intake")
        assert sent.body.endswith("First name?") and sent.status == "sent"
    [started] = _events(tenant_a, AuditAction.INTAKE_SESSION_STARTED)
    assert (started.actor_type, started.actor_id) == ("api_key", _prefix(key))
    assert started.detail == {"questionnaire_id": questionnaire.pk, "version": 1, "via": "staff"}
    # The patient answers by text like any session.
    phone.send("Ada")
    assert phone.last().startswith("Anything we should know?")
    again = _start(client_with(key), questionnaire, {"contact": contact.pk, "channel": phone.channel.pk})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "intake_in_progress"
    assert len(_sessions(tenant_a)) == 1


def test_starting_over_the_plan_is_a_402_with_the_numbers_and_nothing_starts(tenant_a, patient):
    from tests.api.test_quota_refusals import _exhausted_trial

    questionnaire, phone, contact = patient
    _exhausted_trial(tenant_a)
    response = _start(client_with(make_key(tenant_a, STARTER)), questionnaire,
                      {"contact": contact.pk, "channel": phone.channel.pk})
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert error["code"] == "segments_exhausted"
    (numbers,) = error["details"]
    assert (numbers["included"], numbers["used"], numbers["remaining"]) == (10_000, 10_000, 0)
    assert numbers["needed"] >= 1
    assert _sessions(tenant_a) == []
    with tenant_a.scope():
        assert not Message.objects.filter(direction="outbound", origin="intake").exists()


def test_without_a_channel_it_goes_out_on_the_default_one(tenant_a, patient):
    questionnaire, phone, contact = patient
    api = client_with(make_key(tenant_a, STARTER))
    refused = _start(api, questionnaire, {"contact": contact.pk})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "channel"
    with tenant_a.scope():
        Channel.objects.filter(pk=phone.channel.pk).update(is_default=True)
    response = _start(api, questionnaire, {"contact": contact.pk})
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == phone.channel.pk


def test_another_organisations_contact_or_channel_does_not_exist_and_nothing_starts(tenant_a, tenant_b,
                                                                                   patient):
    questionnaire, phone, contact = patient
    theirs = Patient(tenant_b)
    with tenant_b.scope():
        their_contact = ContactFactory(organization=tenant_b.org, phone=PATIENT)
    api = client_with(make_key(tenant_a, STARTER))
    for body, field in (({"contact": their_contact.pk, "channel": phone.channel.pk}, "contact"),
                        ({"contact": contact.pk, "channel": theirs.channel.pk}, "channel")):
        response = _start(api, questionnaire, body)
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("validation_error", field)
        assert "does not exist" not in error["message"] and "of your organisation" in error["details"][0][
            "message"]
    assert _sessions(tenant_a) == [] and _sessions(tenant_b) == []
    with scope(organization=tenant_b.org):
        assert not Message.objects.filter(direction="outbound").exists()
    assert phone.outbox() == []


def test_bodies_are_checked_strictly(tenant_a, patient):
    questionnaire, _phone, contact = patient
    api = client_with(make_key(tenant_a, STARTER))
    for body in ({"contact": str(contact.pk)}, {"contact": True}, {"contact": contact.pk, "via": "x"}, {}):
        response = _start(api, questionnaire, body)
        assert response.status_code == 400, (body, response.content)
    assert _sessions(tenant_a) == []


def test_a_read_only_key_cannot_start(tenant_a, patient):
    questionnaire, phone, contact = patient
    api = client_with(make_key(tenant_a, ["campaigns:read", "contacts:read", "messages:read"]))
    response = _start(api, questionnaire, {"contact": contact.pk, "channel": phone.channel.pk})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert _sessions(tenant_a) == [] and phone.outbox() == []


def test_a_retried_start_with_the_same_idempotency_key_starts_once(tenant_a, patient):
    questionnaire, phone, contact = patient
    api = client_with(make_key(tenant_a, STARTER))
    body = {"contact": contact.pk, "channel": phone.channel.pk}
    first = _start(api, questionnaire, body, HTTP_IDEMPOTENCY_KEY="start-1")
    again = _start(api, questionnaire, body, HTTP_IDEMPOTENCY_KEY="start-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert len(_sessions(tenant_a)) == 1
    assert len([m for m in phone.outbox() if m.origin == "intake"]) == 1


def test_refusals_map_to_codes_and_start_nothing(tenant_a, patient):
    questionnaire, phone, contact = patient
    api = client_with(make_key(tenant_a, STARTER))
    body = {"contact": contact.pk, "channel": phone.channel.pk}
    with tenant_a.scope():
        set_consent(actor=system_actor(tenant_a.org), contact=contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
    opted_out = _start(api, questionnaire, body)
    assert opted_out.status_code == 422, opted_out.content
    assert opted_out.json()["error"]["code"] == "opted_out"
    assert opted_out.json()["error"]["message"].startswith("Nothing was sent:")
    empty = build(tenant_a, [], name="Empty", start_keywords="EMPTY")
    off = build(tenant_a, FORM, name="Off", start_keywords="OFF", is_active=False)
    with tenant_a.scope():
        set_consent(actor=system_actor(tenant_a.org), contact=contact, channel="sms", opted_in=True,
                    source="api")
    assert _start(api, empty, body).json()["error"]["code"] == "questionnaire_empty"
    switched_off = _start(api, off, body)
    assert switched_off.status_code == 409
    assert switched_off.json()["error"]["code"] == "questionnaire_inactive"
    assert _sessions(tenant_a) == [] and phone.outbox() == []


# --- submissions ---------------------------------------------------------------------------------
def test_a_submission_is_listed_without_answers_and_opened_decrypted_and_audited(tenant_a):
    questionnaire = build(tenant_a, FORM)
    submission = _completed(tenant_a)
    key = make_key(tenant_a, ["campaigns:read"])
    api = client_with(key)
    listed = api.get(f"/api/v1/submissions?questionnaire={questionnaire.pk}")
    assert listed.status_code == 200, listed.content
    [row] = listed.json()["results"]
    assert (row["id"], row["questionnaire"], row["version"], row["contact"], row["reviewed_at"]) == (
        submission.pk, questionnaire.pk, 1, submission.contact_id, None)
    assert "answers" not in row and "José" not in listed.content.decode()
    assert _events(tenant_a, AuditAction.INTAKE_SUBMISSION_VIEWED) == []
    opened = api.get(f"/api/v1/submissions/{submission.pk}")
    assert opened.status_code == 200, opened.content
    assert [(a["key"], a["type"], a["value"], a["text"]) for a in opened.json()["answers"]] == [
        ("first_name", "text", "José", "José"),
        ("note", "text", "=cmd", "=cmd"),
        ("visit", "multiple_choice", ["Pain", "Check-up"], "Pain, Check-up"),
    ]
    [viewed] = _events(tenant_a, AuditAction.INTAKE_SUBMISSION_VIEWED)
    assert (viewed.actor_type, viewed.actor_id, viewed.target_id) == ("api_key", _prefix(key),
                                                                       str(submission.pk))
    assert viewed.detail == {"submission_id": submission.pk, "questionnaire_id": questionnaire.pk}
    assert "José" not in str(viewed.detail)


def test_the_list_needs_a_questionnaire_and_filters_by_status(tenant_a):
    questionnaire = build(tenant_a, FORM)
    submission = _completed(tenant_a)
    api = client_with(make_key(tenant_a, ["campaigns:read", "contacts:write"]))
    assert api.get("/api/v1/submissions").status_code == 400
    assert api.get(f"/api/v1/submissions?questionnaire={questionnaire.pk}&status=").status_code == 400
    assert api.get(f"/api/v1/submissions?questionnaire={questionnaire.pk}&status=done").status_code == 400
    to_review = f"/api/v1/submissions?questionnaire={questionnaire.pk}&status=to_review"
    assert [r["id"] for r in api.get(to_review).json()["results"]] == [submission.pk]
    assert api.post(f"/api/v1/submissions/{submission.pk}/review", {}, format="json").status_code == 200
    assert api.get(to_review).json()["results"] == []


def test_review_marks_reviewed_and_back(tenant_a):
    build(tenant_a, FORM)
    submission = _completed(tenant_a)
    key = make_key(tenant_a, ["campaigns:read", "contacts:write"])
    api = client_with(key)
    path = f"/api/v1/submissions/{submission.pk}/review"
    response = api.post(path, {"reviewed": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["reviewed_at"] is not None and "answers" not in response.json()
    with tenant_a.scope():
        assert Submission.objects.get().reviewed_at is not None
    [reviewed] = _events(tenant_a, AuditAction.INTAKE_SUBMISSION_REVIEWED)
    assert (reviewed.actor_type, reviewed.actor_id) == ("api_key", _prefix(key))
    assert api.post(path, {"reviewed": False}, format="json").json()["reviewed_at"] is None
    assert api.post(path, {"reviewed": "no"}, format="json").status_code == 400
    read_only = client_with(make_key(tenant_a, ["campaigns:read"])).post(path, {}, format="json")
    assert read_only.status_code == 403
    with tenant_a.scope():
        assert Submission.objects.get().reviewed_at is None


# --- export --------------------------------------------------------------------------------------
def test_csv_export_has_a_column_per_question_neutralised_formulas_and_an_audit_event(tenant_a):
    questionnaire = build(tenant_a, FORM)
    first = _completed(tenant_a)
    _completed(tenant_a, answers=("Zoë", "SKIP", "2"), phone="+14155550166")
    key = make_key(tenant_a, ["campaigns:read", "contacts:export"])
    response = client_with(key).get(f"/api/v1/questionnaires/{questionnaire.pk}/export?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="intake-{questionnaire.pk}-submissions.csv"')
    assert response["Cache-Control"] == "no-store"
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["Submission", "Submitted at (UTC)", "Version", "Contact id", "Reviewed",
                       "First name?", "Anything we should know?", "Why are you coming?"]
    assert rows[1][0] == str(first.pk) and rows[1][5:] == ["José", "'=cmd", "Pain, Check-up"]
    assert rows[2][5:] == ["Zoë", "", "Check-up"]
    [event] = _events(tenant_a, AuditAction.EXPORT_DOWNLOADED)
    assert (event.actor_type, event.actor_id) == ("api_key", _prefix(key))
    assert event.detail == {"questionnaire_id": questionnaire.pk, "rows": 2, "format": "csv",
                            "kind": "intake_submissions"}
    # Without a format: CSV too.
    default = client_with(key).get(f"/api/v1/questionnaires/{questionnaire.pk}/export")
    assert default["Content-Type"].startswith("text/csv")


def test_xlsx_export_opens_as_typed_text(tenant_a):
    questionnaire = build(tenant_a, FORM)
    _completed(tenant_a)
    api = client_with(make_key(tenant_a, ["campaigns:read", "contacts:export"]))
    response = api.get(f"/api/v1/questionnaires/{questionnaire.pk}/export?format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1][5:] == ["José", "'=cmd", "Pain, Check-up"]
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)
    bad = api.get(f"/api/v1/questionnaires/{questionnaire.pk}/export?format=pdf")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"
    assert bad.json()["error"]["field"] == "format"
    assert [e.detail["format"] for e in _events(tenant_a, AuditAction.EXPORT_DOWNLOADED)] == ["xlsx"]


def test_export_needs_the_export_scope(tenant_a):
    questionnaire = build(tenant_a, FORM)
    _completed(tenant_a)
    everything_else = [s for s in API_SCOPES if s != "contacts:export"]
    response = client_with(make_key(tenant_a, everything_else)).get(
        f"/api/v1/questionnaires/{questionnaire.pk}/export?format=csv")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "permission_denied"
    assert _events(tenant_a, AuditAction.EXPORT_DOWNLOADED) == []


# --- tenancy -------------------------------------------------------------------------------------
def test_another_organisations_ids_are_404_and_change_nothing(tenant_a, tenant_b, patient):
    questionnaire, phone, contact = patient
    submission = _completed(tenant_a, phone="+14155550166")
    api = client_with(make_key(tenant_b))
    for path in (f"/api/v1/questionnaires/{questionnaire.pk}",
                 f"/api/v1/questionnaires/{questionnaire.pk}/results",
                 f"/api/v1/questionnaires/{questionnaire.pk}/export?format=csv",
                 f"/api/v1/submissions?questionnaire={questionnaire.pk}",
                 f"/api/v1/submissions/{submission.pk}"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    with on_commit():
        started = api.post(f"/api/v1/questionnaires/{questionnaire.pk}/start",
                           {"contact": contact.pk, "channel": phone.channel.pk}, format="json")
    reviewed = api.post(f"/api/v1/submissions/{submission.pk}/review", {}, format="json")
    assert started.status_code == reviewed.status_code == 404
    assert len(_sessions(tenant_a)) == 1  # the completed one only
    with tenant_a.scope():
        assert Submission.objects.get().reviewed_at is None
    for action in (AuditAction.INTAKE_SUBMISSION_VIEWED, AuditAction.EXPORT_DOWNLOADED):
        assert _events(tenant_a, action) == [] and _events(tenant_b, action) == []
    assert client_with(make_key(tenant_b)).get("/api/v1/questionnaires").json()["results"] == []
