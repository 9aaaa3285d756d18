"""Completion writing custom fields (empty ones filled, a differing one shown to staff), a
clinic's own re-ask message, and the audit events of reviewing and of resolving differences."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scope

from audit import AuditAction
from audit.models import AuditEvent
from campaigns.intake.models import ContactFieldConflict
from contacts.custom_fields import define_custom_field
from contacts.models import Contact
from tests.factories import ContactFactory
from tests.intake.helpers import PATIENT, Patient, build, member

pytestmark = pytest.mark.django_db


def events(tenant, action) -> list[AuditEvent]:
    with scope(organization=tenant.org):
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("pk"))


def custom_fields_form(tenant) -> Contact:
    """A contact with an insurer on file and no pharmacy; a form asking both."""
    with scope(organization=tenant.org):
        for key, label in (("insurer", "Insurer"), ("pharmacy", "Pharmacy")):
            define_custom_field(actor=member(tenant), organization=tenant.org, label=label,
                                field_type="text", key=key)
        contact = ContactFactory(organization=tenant.org, phone=PATIENT,
                                 custom_values={"insurer": "Acme Health"})
    build(
        tenant,
        [
            {"key": "insurer", "kind": "text", "prompt": "Insurer?", "contact_field": "custom:insurer"},
            {"key": "pharmacy", "kind": "text", "prompt": "Pharmacy?", "contact_field": "custom:pharmacy"},
        ],
    )
    return contact


def test_completion_fills_an_empty_custom_field_and_shows_a_differing_one_to_staff(tenant_a):
    contact = custom_fields_form(tenant_a)
    patient = Patient(tenant_a)
    for answer in ("INTAKE", "Blue Shield", "Main St Pharmacy"):
        patient.send(answer)
    submission = patient.submission()
    assert submission.contact_update == "conflicts"
    with scope(organization=tenant_a.org):
        contact.refresh_from_db()
        # the empty one filled, the one on file never overwritten silently
        assert contact.custom_values == {"insurer": "Acme Health", "pharmacy": "Main St Pharmacy"}
        conflict = ContactFieldConflict.objects.get()
        assert (conflict.field, conflict.proposed, conflict.status) == (
            "custom:insurer", "Blue Shield", "pending")
    client = tenant_a.client_for("staff")
    page = client.get(reverse("intake:submission", args=[submission.pk])).content.decode()
    assert "Differences with the patient" in page
    assert "custom:insurer" in page and "Blue Shield" in page
    assert reverse("intake:conflict_resolve", args=[conflict.pk]) in page  # staff can decide

    response = client.post(reverse("intake:conflict_resolve", args=[conflict.pk]), {"decision": "accept"})
    assert response.status_code == 302
    with scope(organization=tenant_a.org):
        contact.refresh_from_db()
        assert contact.custom_values["insurer"] == "Blue Shield"
    [event] = events(tenant_a, AuditAction.INTAKE_CONFLICT_RESOLVED)
    assert event.detail == {"submission_id": submission.pk, "field": "custom:insurer", "accepted": True}
    assert (event.actor_type, event.actor_id) == ("user", str(tenant_a.member("staff").pk))
    assert (event.target_type, event.target_id) == ("campaigns.submission", str(submission.pk))


def test_rejecting_a_difference_is_audited_and_keeps_the_record(tenant_a):
    contact = custom_fields_form(tenant_a)
    patient = Patient(tenant_a)
    for answer in ("INTAKE", "Blue Shield", "Main St Pharmacy"):
        patient.send(answer)
    with scope(organization=tenant_a.org):
        conflict = ContactFieldConflict.objects.get()
    tenant_a.client_for("staff").post(reverse("intake:conflict_resolve", args=[conflict.pk]),
                                      {"decision": "reject"})
    with scope(organization=tenant_a.org):
        contact.refresh_from_db()
        assert contact.custom_values["insurer"] == "Acme Health"
        assert ContactFieldConflict.objects.get().status == "rejected"
    [event] = events(tenant_a, AuditAction.INTAKE_CONFLICT_RESOLVED)
    assert event.detail == {
        "submission_id": conflict.submission_id, "field": "custom:insurer", "accepted": False}
    assert "Blue Shield" not in str(event.detail) and "Acme" not in str(event.detail)  # no PHI in the log


def test_marking_a_submission_reviewed_and_back_is_audited(tenant_a):
    build(tenant_a, [{"key": "first_name", "kind": "text", "prompt": "First name?"}])
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("Ada")
    submission = patient.submission()
    client = tenant_a.client_for("staff")
    url = reverse("intake:submission_review", args=[submission.pk])
    assert client.post(url).status_code == 302
    assert client.post(url, {"reviewed": "0"}).status_code == 302
    reviewed, unreviewed = events(tenant_a, AuditAction.INTAKE_SUBMISSION_REVIEWED)
    assert reviewed.detail == {"submission_id": submission.pk, "reviewed": True}
    assert unreviewed.detail == {"submission_id": submission.pk, "reviewed": False}
    assert reviewed.actor_id == str(tenant_a.member("staff").pk)
    assert (reviewed.target_type, reviewed.target_id) == ("campaigns.submission", str(submission.pk))


def test_a_clinics_own_reask_message_is_used_with_the_reason(tenant_a):
    build(
        tenant_a,
        [
            {
                "key": "dob",
                "kind": "date",
                "prompt": "Date of birth?",
                "reask_message": "Please write your date of birth like 3/14/1985",
            },
            {"key": "age", "kind": "number", "prompt": "Age?", "min_value": 0, "max_value": 130},
        ],
    )
    patient = Patient(tenant_a)
    patient.send("INTAKE")
    patient.send("12/31/2999")
    assert patient.last() == (
        "Please write your date of birth like 3/14/1985 (that date is in the future)\nDate of birth?"
    )
    patient.send("3/14/1985")
    patient.send("200")  # no re-ask message of its own: the bot's default wording
    assert patient.last().startswith("Sorry, I could not use that answer: the number must be at most 130.")
