"""Reminders and expiry on a fake clock, quiet hours, versioning mid-session, a questionnaire
deleted mid-session, staff taking over, and contact-field updates and conflicts."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django_scopes import scope

from accounts.actor import actor_for
from campaigns.intake import services
from campaigns.intake.models import ContactFieldConflict, IntakeSession
from campaigns.intake.tasks import sweep_sessions
from contacts.models import Contact
from contacts.selectors import find_by_phone
from contacts.services import set_consent
from messaging.models import Conversation
from messaging.services.outbound import send_reply
from tests.factories import ContactFactory, system_actor
from tests.intake.helpers import PATIENT, Patient, build, member, on_commit

pytestmark = pytest.mark.django_db

TWO = [
    {"key": "first_name", "kind": "text", "prompt": "First name?"},
    {"key": "city", "kind": "text", "prompt": "City?"},
]
UTC = datetime.UTC


def in_los_angeles(tenant) -> None:
    with scope(organization=tenant.org):
        patient = find_by_phone(actor=system_actor(tenant.org), organization=tenant.org, raw_phone=PATIENT)
        Contact.objects.filter(pk=patient.pk).update(
            timezone="America/Los_Angeles"
        )


def sweep() -> None:
    with on_commit():
        sweep_sessions.delay()


def _take_over_and_answer(tenant, patient, session, answer: str) -> None:
    """Staff reply in the inbox, then the patient answers: the bot must stop asking."""
    with scope(organization=tenant.org), on_commit():
        send_reply(conversation=session.conversation, body="Hi, this is Sam from the front desk.",
                   actor=actor_for(tenant.staff, tenant.org))
    count = len(patient.outbox())
    patient.send(answer)
    assert patient.session().status == "taken_over" and len(patient.outbox()) == count


def test_a_reminder_after_four_hours_then_expiry_after_twenty_four(tenant_a):
    build(tenant_a, TWO, reminder_message="Still there? We need a few more answers.")
    patient = Patient(tenant_a)
    with time_machine.travel(datetime.datetime(2026, 6, 1, 17, 0, tzinfo=UTC), tick=False) as clock:
        patient.send("INTAKE")
        in_los_angeles(tenant_a)
        clock.shift(datetime.timedelta(hours=3, minutes=59))
        sweep()
        assert patient.last() == "Welcome to Org A.\nFirst name?"
        clock.shift(datetime.timedelta(minutes=2))  # 14:01 in Los Angeles
        sweep()
        assert patient.last() == "Still there? We need a few more answers.\nFirst name?"
        sweep()  # one reminder only
        assert len([m for m in patient.outbox() if m.origin == "intake"]) == 2
        clock.shift(datetime.timedelta(hours=20))
        sweep()
        assert patient.session().status == "expired"
        assert patient.last() == "This questionnaire has expired. Reply INTAKE to start again."
        patient.send("Ada")  # an answer after expiry: the expiry message again, not a crash
        assert patient.last() == "This questionnaire has expired. Reply INTAKE to start again."
        count = len(patient.outbox())
        patient.send("Ada?")  # once is enough
        assert len(patient.outbox()) == count
        patient.send("INTAKE")  # and the keyword starts afresh
        assert patient.session().status == "active" and patient.last().endswith("First name?")


def test_no_reminder_or_expiry_notice_in_the_patients_quiet_hours(tenant_a):
    from campaigns.quiet_hours import DEFAULT_WINDOW

    assert (DEFAULT_WINDOW.start.hour, DEFAULT_WINDOW.end.hour) == (8, 21)  # campaigns' sending window
    build(tenant_a, TWO)
    patient = Patient(tenant_a)
    # 19:00 in Los Angeles: the reminder would fall due at 23:00, inside quiet hours.
    with time_machine.travel(datetime.datetime(2026, 6, 2, 2, 0, tzinfo=UTC), tick=False) as clock:
        patient.send("INTAKE")
        in_los_angeles(tenant_a)
        clock.shift(datetime.timedelta(hours=4, minutes=5))
        sweep()
        assert patient.session().reminded_at is None
        clock.move_to(datetime.datetime(2026, 6, 2, 15, 1, tzinfo=UTC))  # 08:01 there
        sweep()
        assert patient.session().reminded_at is not None
        assert patient.last().startswith("Just a reminder")


def test_a_late_answer_expires_the_session_even_before_the_sweep_runs(tenant_a):
    build(tenant_a, TWO)
    patient = Patient(tenant_a)
    with time_machine.travel(datetime.datetime(2026, 6, 1, 17, 0, tzinfo=UTC), tick=False) as clock:
        patient.send("INTAKE")
        clock.shift(datetime.timedelta(hours=25))
        patient.send("Ada")
    session = patient.session()
    assert session.status == "expired" and session.answers == {}
    assert "expired" in patient.last()


def test_editing_mid_session_makes_a_new_version_and_the_session_finishes_on_its_own(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    with scope(organization=tenant_a.org):
        services.add_question(
            questionnaire=questionnaire, actor=member(tenant_a), key="email", kind="email", prompt="E-mail?"
        )
        questionnaire.refresh_from_db()
        assert questionnaire.current_version.number == 2
    patient.send("Ada")
    patient.send("Paris")
    submission = patient.submission()
    assert submission.version.number == 1 and submission.answers == {"first_name": "Ada", "city": "Paris"}
    other = Patient(tenant_a, phone="+14155550166")
    other.send("INTAKE")
    assert other.session().version.number == 2


def test_editing_before_anyone_started_keeps_one_version(tenant_a):
    questionnaire = build(tenant_a, TWO)
    with scope(organization=tenant_a.org):
        services.update_questionnaire(questionnaire=questionnaire, actor=member(tenant_a), intro="Hi!")
        questionnaire.refresh_from_db()
        assert questionnaire.current_version.number == 1
        assert questionnaire.current_version.snapshot["intro"] == "Hi!"


def test_a_questionnaire_deleted_mid_session_ends_it_politely(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    with scope(organization=tenant_a.org), on_commit():
        assert services.delete_questionnaire(questionnaire=questionnaire, actor=member(tenant_a)) == 1
    assert patient.session().status == "cancelled"
    assert "no longer available" in patient.last()
    count = len(patient.outbox())
    patient.send("Ada")
    assert len(patient.outbox()) == count  # nothing more, no crash
    patient.send("INTAKE")
    assert len(patient.outbox()) == count  # the keyword is gone with it


def test_staff_replying_in_the_inbox_takes_the_conversation_over(tenant_a):
    build(tenant_a, TWO)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    _take_over_and_answer(tenant_a, patient, patient.session(), "Ada")


def test_completion_fills_empty_fields_and_shows_conflicts_to_staff(tenant_a):
    with scope(organization=tenant_a.org):
        contact = ContactFactory(
            organization=tenant_a.org,
            phone=PATIENT,
            first_name="Grace",
            last_name=None,
            email=None,
            date_of_birth=datetime.date(1980, 1, 2),
        )
    build(
        tenant_a,
        [
            {"key": "first", "kind": "text", "prompt": "First name?", "contact_field": "first_name"},
            {"key": "last", "kind": "text", "prompt": "Last name?", "contact_field": "last_name"},
            {"key": "dob", "kind": "date", "prompt": "Date of birth?", "contact_field": "date_of_birth"},
            {"key": "email", "kind": "email", "prompt": "E-mail?", "contact_field": "email"},
        ],
    )
    patient = Patient(tenant_a)
    for text in ("INTAKE", "grace", "Hopper", "12/9/1906", "grace@example.org"):
        patient.send(text)
    submission = patient.submission()
    assert submission.contact_update == "conflicts"
    with scope(organization=tenant_a.org):
        contact.refresh_from_db()
        assert (contact.first_name, contact.last_name, contact.email) == (
            "Grace",
            "Hopper",
            "grace@example.org",
        )
        assert contact.date_of_birth == datetime.date(1980, 1, 2)  # never overwritten silently
        conflict = ContactFieldConflict.objects.get()
        assert (conflict.field, conflict.proposed, conflict.status) == (
            "date_of_birth",
            "1906-12-09",
            "pending",
        )
        services.resolve_conflict(conflict=conflict, actor=member(tenant_a, "staff"), accept=True)
        contact.refresh_from_db()
        assert contact.date_of_birth == datetime.date(1906, 12, 9)
        submission.refresh_from_db()
        assert submission.contact_update == "applied"
        with pytest.raises(services.IntakeError):
            services.resolve_conflict(conflict=conflict, actor=member(tenant_a, "staff"), accept=False)


def test_a_rejected_conflict_leaves_the_record_alone(tenant_a):
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT, first_name="Grace")
    build(
        tenant_a, [{"key": "first", "kind": "text", "prompt": "First name?", "contact_field": "first_name"}]
    )
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("Amazing Grace")
    with scope(organization=tenant_a.org):
        conflict = ContactFieldConflict.objects.get()
        services.resolve_conflict(conflict=conflict, actor=member(tenant_a, "staff"), accept=False)
        contact.refresh_from_db()
        assert contact.first_name == "Grace"
        assert ContactFieldConflict.objects.get().status == "rejected"
        with pytest.raises(PermissionDenied):
            services.resolve_conflict(conflict=conflict, actor=member(tenant_a, "viewer"), accept=True)


def test_staff_start_a_questionnaire_for_one_contact(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
        with on_commit():
            session = services.start_for_contact(
                questionnaire=questionnaire,
                contact_id=contact.pk,
                channel=patient.channel,
                actor=member(tenant_a, "staff"),
            )
        assert session.via == "staff"
        with pytest.raises(services.IntakeError, match="already answering"):
            services.start_for_contact(
                questionnaire=questionnaire,
                contact_id=contact.pk,
                channel=patient.channel,
                actor=member(tenant_a, "staff"),
            )
    assert patient.last().endswith("First name?")
    patient.send("Ada")
    assert patient.last() == "City?"
    with scope(organization=tenant_a.org):
        assert IntakeSession.objects.count() == 1


def test_staff_starting_for_an_opted_out_patient_learn_nothing_was_sent(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
        set_consent(actor=system_actor(contact), contact=contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
        with pytest.raises(services.IntakeError, match=r"Nothing was sent: .*opted out"):
            services.start_for_contact(questionnaire=questionnaire, contact_id=contact.pk,
                                       channel=patient.channel, actor=member(tenant_a, "staff"))
        # Nothing is left behind: no session, and no empty thread opened for it in the inbox.
        assert not IntakeSession.objects.exists() and not Conversation.objects.exists()


def test_the_take_over_button_stops_the_bot(tenant_a):
    build(tenant_a, TWO)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    session = patient.session()
    response = tenant_a.client_for("staff").post(f"/intake/sessions/{session.pk}/take-over/")
    assert response.status_code == 302 and response["Location"] == f"/inbox/{session.conversation_id}/"
    count = len(patient.outbox())
    patient.send("Ada")
    assert patient.session().status == "taken_over" and len(patient.outbox()) == count
    assert tenant_a.client_for("viewer").post(f"/intake/sessions/{session.pk}/take-over/").status_code == 403


def test_the_questionnaire_page_lists_sessions_in_progress_without_answers(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("Ada Secret")
    page = tenant_a.client_for("staff").get(f"/intake/{questionnaire.pk}/").content.decode()
    assert 'data-testid="take-over"' in page and "<code>city</code>" in page
    assert "Ada Secret" not in page


def test_staff_starting_for_a_patient_without_a_thread_open_one_in_the_inbox(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
        assert not Conversation.objects.exists()
        with on_commit():
            session = services.start_for_contact(questionnaire=questionnaire, contact_id=contact.pk,
                                                 channel=patient.channel, actor=member(tenant_a, "staff"))
        thread = Conversation.objects.get()
        assert (session.conversation_id, thread.contact_id, thread.status) == (thread.pk, contact.pk, "open")
        assert [m.conversation_id for m in patient.outbox()] == [thread.pk]  # the first question is in it
    patient.send("Ada")
    with scope(organization=tenant_a.org):
        assert Conversation.objects.get().pk == thread.pk  # the answer joined the same thread
    _take_over_and_answer(tenant_a, patient, patient.session(), "Lisbon")


def test_a_campaign_started_session_joins_the_thread_its_first_answer_opens(tenant_a):
    questionnaire = build(tenant_a, TWO)
    patient = Patient(tenant_a)
    with scope(organization=tenant_a.org):
        contact = ContactFactory(organization=tenant_a.org, phone=PATIENT)
        with on_commit():
            services.start_for_contact(questionnaire=questionnaire, contact_id=contact.pk,
                                       channel=patient.channel, actor=member(tenant_a, "staff"),
                                       via="campaign")
        assert not Conversation.objects.exists()  # bulk starts open no thread per patient
    patient.send("Ada")
    session = patient.session()
    with scope(organization=tenant_a.org):
        thread = Conversation.objects.get()
        assert session.conversation_id == thread.pk
        # The questions sent before the answer show in the thread, above it.
        assert {m.conversation_id for m in patient.outbox() if m.origin == "intake"} == {thread.pk}
    _take_over_and_answer(tenant_a, patient, session, "Lisbon")
