"""BACK, RESTART, SKIP, HELP, branching, STOP mid-session, one session at a time, each answer once."""

from __future__ import annotations

import json

import pytest
from django_scopes import scope

from campaigns.intake.models import IntakeSession
from contacts.selectors import find_by_phone
from messaging.models import Message
from tests.factories import system_actor
from tests.intake.helpers import Patient, build, on_commit
from tests.messaging.backend_helpers import post_simulator

pytestmark = pytest.mark.django_db

THREE = [
    {"key": "first_name", "kind": "text", "prompt": "First name?"},
    {"key": "nickname", "kind": "text", "prompt": "Nickname?", "required": False},
    {"key": "city", "kind": "text", "prompt": "City?"},
]

BRANCHING = [
    {"key": "on_meds", "kind": "yes_no", "prompt": "Do you take any medication?"},
    {
        "key": "which_meds",
        "kind": "text",
        "prompt": "Which medication?",
        "condition_key": "on_meds",
        "condition_value": "yes",
    },
    {"key": "visit", "kind": "single_choice", "prompt": "Visit type?", "choices": ["New", "Follow-up"]},
    {
        "key": "referral",
        "kind": "text",
        "prompt": "Who referred you?",
        "condition_key": "visit",
        "condition_value": "New",
    },
]


def test_skip_back_and_restart(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("SKIP")
    assert "this question needs an answer" in patient.last() and "First name?" in patient.last()
    patient.send("Ada")
    assert patient.last() == "Nickname?\n(Reply SKIP to skip.)"
    patient.send("skip")
    assert patient.last() == "City?"
    patient.send("BACK")
    assert patient.last().startswith("Nickname?")
    patient.send("Addie")
    patient.send("back")
    patient.send("back")
    assert patient.last() == "First name?"
    patient.send("back")
    assert "this is the first question" in patient.last()
    patient.send("RESTART")
    assert patient.last() == "First name?"
    assert patient.session().answers == {}
    patient.send("Grace")
    patient.send("Gee")
    patient.send("Boston")
    assert patient.submission().answers == {"first_name": "Grace", "nickname": "Gee", "city": "Boston"}


def test_a_skipped_question_is_absent_from_the_answers(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    for text in ("INTAKE", "Ada", "SKIP", "Paris"):
        patient.send(text)
    assert patient.submission().answers == {"first_name": "Ada", "city": "Paris"}


@pytest.mark.parametrize(
    "meds,visit,expected",
    [
        ("yes", "1", ["on_meds", "which_meds", "visit", "referral"]),
        ("no", "2", ["on_meds", "visit"]),
    ],
)
def test_branching_asks_follow_ups_only_after_the_matching_answer(tenant_a, meds, visit, expected):
    build(tenant_a, BRANCHING)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send(meds)
    if meds == "yes":
        assert patient.last() == "Which medication?"
        patient.send("Metformin")
    assert patient.last().startswith("Visit type?")
    patient.send(visit)
    if visit == "1":
        assert patient.last() == "Who referred you?"
        patient.send("Dr Who")
    assert list(patient.submission().answers) == expected


def test_back_over_a_branch_drops_the_answers_that_no_longer_apply(tenant_a):
    build(tenant_a, BRANCHING)
    patient = Patient(tenant_a)
    for text in ("INTAKE", "yes", "Aspirin", "back", "back"):
        patient.send(text)
    assert patient.last().startswith("Do you take any medication?")
    patient.send("no")
    assert patient.last().startswith("Visit type?")  # the medication question is not asked now
    patient.send("Follow-up")
    assert patient.submission().answers["on_meds"] is False
    # The medication answered before going back no longer applies: it is not submitted.
    assert "which_meds" not in patient.submission().answers


def test_stop_mid_session_ends_it_updates_consent_and_sends_nothing_more(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("Ada")
    sent_before = len(patient.outbox())
    patient.send("STOP")
    session = patient.session()
    assert session.status == "stopped" and session.ended_at
    with scope(organization=tenant_a.org):
        contact = find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                raw_phone=patient.phone)
        assert contact.sms_opted_in is False
        origins = [m.origin for m in patient.outbox()[sent_before:]]
    assert origins == ["auto_reply"]  # only messaging's STOP confirmation
    patient.send("Paris")
    assert len(patient.outbox()) == sent_before + 1


def test_help_is_answered_and_the_patient_keeps_their_place(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("Ada")
    patient.send("HELP")
    bodies = [m.body for m in patient.outbox()[-2:]]
    assert "Reply STOP to opt out" in bodies[0] or "Reply STOP to opt out" in bodies[1]
    assert patient.last().startswith("Nickname?")
    patient.send("Addie")
    assert patient.last() == "City?"


def test_one_active_session_per_contact_and_channel(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("INTAKE")  # an answer to "First name?" now, not a second session
    with scope(organization=tenant_a.org):
        assert IntakeSession.objects.count() == 1
    assert patient.session().answers == {"first_name": "INTAKE"}


def test_an_unknown_sender_becomes_a_contact_and_can_start(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a, phone="+14155550177")
    patient.send("intake")
    with scope(organization=tenant_a.org):
        unknown = find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                raw_phone="+14155550177")
        assert unknown.origin == "inbound"
    assert patient.last().endswith("First name?")


def test_a_provider_retry_is_handled_once(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    body = json.dumps(
        {"id": "simin_retry", "from": patient.phone, "to": patient.channel.address, "body": "Ada"}
    ).encode()
    with on_commit():
        assert post_simulator(patient.channel, body).status_code == 200
    with on_commit():
        assert post_simulator(patient.channel, body).status_code == 200
    assert patient.session().answers == {"first_name": "Ada"}
    assert patient.last().startswith("Nickname?")


def test_two_answers_arriving_together_are_processed_in_order_each_once(tenant_a):
    build(tenant_a, THREE)
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    with on_commit():  # both stored before either handler runs (fast typing, provider batching)
        for n, text in enumerate(("Ada", "Addie")):
            body = json.dumps(
                {"id": f"simin_fast{n}", "from": patient.phone, "to": patient.channel.address, "body": text}
            ).encode()
            assert post_simulator(patient.channel, body).status_code == 200
    assert patient.session().answers == {"first_name": "Ada", "nickname": "Addie"}
    with scope(organization=tenant_a.org):
        asked = [
            m.body for m in Message.objects.filter(channel=patient.channel, origin="intake").order_by("pk")
        ]
    assert asked[-2:] == ["Nickname?\n(Reply SKIP to skip.)", "City?"]


def test_a_database_deadlock_is_retried_and_other_errors_are_not(monkeypatch):
    from django.db import OperationalError

    from campaigns.intake import engine
    from messaging.inbound import InboundEvent

    class Deadlock(Exception):
        sqlstate = "40P01"

    calls = []

    def flaky(event):
        calls.append(event)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()

    monkeypatch.setattr(engine, "_handle_inbound", flaky)
    from accounts import db_conflicts

    monkeypatch.setattr(db_conflicts.time, "sleep", lambda seconds: None)
    event = InboundEvent(organization_id=1, channel_id=1, message_id=1, conversation_id=1, contact_id=1)
    engine.handle_inbound(event)
    assert len(calls) == 2

    def broken(event):
        raise OperationalError("connection lost")

    monkeypatch.setattr(engine, "_handle_inbound", broken)
    with pytest.raises(OperationalError):
        engine.handle_inbound(event)
