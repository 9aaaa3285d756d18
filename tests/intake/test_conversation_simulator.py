"""A whole conversation in the simulator for every question type, valid and invalid answers."""

from __future__ import annotations

import pytest
import time_machine

from tests.intake.helpers import Patient, build

pytestmark = pytest.mark.django_db

ALL_TYPES = [
    {
        "key": "full_name",
        "kind": "text",
        "prompt": "What is your first name?",
        "max_length": 40,
        "contact_field": "first_name",
    },
    {"key": "weight", "kind": "number", "prompt": "Your weight in kg?", "min_value": 2, "max_value": 400},
    {"key": "dob", "kind": "date", "prompt": "Your date of birth?", "contact_field": "date_of_birth"},
    {"key": "smoker", "kind": "yes_no", "prompt": "Do you smoke?"},
    {
        "key": "visit",
        "kind": "single_choice",
        "prompt": "Reason for the visit?",
        "choices": ["Check-up", "Pain", "Vaccine", "Other"],
    },
    {
        "key": "allergies",
        "kind": "multiple_choice",
        "prompt": "Any allergies?",
        "choices": ["Penicillin", "Latex", "Peanuts"],
        "required": False,
    },
    {"key": "emergency_phone", "kind": "phone", "prompt": "An emergency contact number?"},
    {"key": "email", "kind": "email", "prompt": "Your e-mail?", "contact_field": "email"},
]


@time_machine.travel("2026-06-01 15:00 +0000", tick=False)
def test_every_question_type_with_invalid_then_valid_answers(tenant_a):
    build(tenant_a, ALL_TYPES)
    patient = Patient(tenant_a)
    patient.send("intake")
    assert patient.last().startswith("Welcome to Org A.\nWhat is your first name?")

    patient.send("x" * 5000)
    assert "5000 characters long; the limit is 40" in patient.last()
    assert "What is your first name?" in patient.last()
    patient.send("Grace")
    assert patient.last() == "Your weight in kg?"

    patient.send("heavy")
    assert "that is not a number" in patient.last()
    patient.send("1000")
    assert "at most 400" in patient.last()
    patient.send("72,5")
    assert patient.last() == "Your date of birth?"

    patient.send("2/30/1985")
    assert "that date does not exist" in patient.last()
    patient.send("3/14/2030")
    assert "that date is in the future" in patient.last()
    patient.send("March 14 1985")
    assert patient.last().startswith("Do you smoke?\nReply YES or NO.")

    patient.send("maybe")
    assert "please answer yes or no" in patient.last()
    patient.send("Sí")
    assert patient.last().startswith("Reason for the visit?\n1) Check-up\n2) Pain\n3) Vaccine\n4) Other")

    patient.send("7")
    assert "one of the numbers shown" in patient.last()
    patient.send("pain")
    assert "Any allergies?" in patient.last() and "SKIP" in patient.last()

    patient.send("1, 9")
    assert "one of the numbers shown" in patient.last()
    patient.send("3,1")
    assert patient.last().startswith("An emergency contact number?")

    patient.send("555")
    assert "not a valid phone number" in patient.last()
    patient.send("(415) 555-0142")
    assert patient.last() == "Your e-mail?"

    patient.send("grace@")
    assert "not a valid e-mail address" in patient.last()
    patient.send("Grace@Example.ORG")
    assert patient.last() == "Thank you!"

    session = patient.session()
    assert session.status == "completed"
    submission = patient.submission()
    assert submission.answers == {
        "full_name": "Grace",
        "weight": 72.5,
        "dob": "1985-03-14",
        "smoker": True,
        "visit": "Pain",
        "allergies": ["Penicillin", "Peanuts"],
        "emergency_phone": "+14155550142",
        "email": "Grace@example.org",
    }
    assert submission.version.number == 1
