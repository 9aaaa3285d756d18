"""Row makers of the intake models for the tenancy guard (tests/test_tenancy.py)."""

from django.utils import timezone

from campaigns.intake.models import (
    ContactFieldConflict,
    IntakePhoto,
    IntakeSession,
    Question,
    Questionnaire,
    QuestionnaireVersion,
    Submission,
)
from tests.tenancy import row_maker


@row_maker("campaigns.questionnaire")
def questionnaire(org):
    return Questionnaire.objects.create(organization=org, name="Intake", start_keywords="INTAKE")


@row_maker("campaigns.question")
def question(org):
    return Question.objects.create(
        organization=org, questionnaire=questionnaire(org), key="name", prompt="Name?"
    )


@row_maker("campaigns.questionnaireversion")
def version(org):
    return QuestionnaireVersion.objects.create(
        organization=org, questionnaire=questionnaire(org), number=1, snapshot={"questions": []}
    )


@row_maker("campaigns.intakesession")
def session(org):
    from tests.messaging.tenancy_rows import conversation

    conv = conversation(org)
    v = version(org)
    return IntakeSession.objects.create(
        organization=org,
        questionnaire=v.questionnaire,
        version=v,
        contact=conv.contact,
        channel=conv.channel,
        conversation=conv,
        last_activity_at=timezone.now(),
        answers={"name": "Ada"},
    )


@row_maker("campaigns.submission")
def submission(org):
    s = session(org)
    return Submission.objects.create(
        organization=org,
        questionnaire=s.questionnaire,
        version=s.version,
        session=s,
        contact=s.contact,
        answers={"name": "Ada"},
        submitted_at=timezone.now(),
    )


@row_maker("campaigns.contactfieldconflict")
def conflict(org):
    return ContactFieldConflict.objects.create(
        organization=org, submission=submission(org), field="first_name", proposed="Ada"
    )


@row_maker("campaigns.intakephoto")
def photo(org):
    return IntakePhoto.objects.create(
        organization=org,
        session=session(org),
        question_key="card",
        content_type="image/png",
        size=8,
        data="iVBORw0KGgo=",
    )
