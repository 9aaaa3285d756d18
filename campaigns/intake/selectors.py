"""Reads of the intake bot. Those returning PHI (answers, photos) record the audit event.

Another organisation's id answers exactly like a missing one (404): rows are read through
the tenant-scoped managers, so ids leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.http import Http404

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from campaigns.intake.models import (
    ContactFieldConflict,
    IntakePhoto,
    IntakeSession,
    Question,
    Questionnaire,
    Submission,
)
from campaigns.intake.photos import photo_bytes


def _get(queryset: QuerySet, pk, what: str):
    try:
        return queryset.get(pk=int(pk))
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No such {what}.") from None


def questionnaires(*, actor: Actor) -> QuerySet:
    """The organisation's questionnaires (not deleted), with submission counts. No PHI."""
    actor.require(Perm.CAMPAIGNS_VIEW)
    return (
        Questionnaire.objects.filter(deleted_at__isnull=True)
        .select_related("current_version")
        .annotate(submission_count=Count("submissions", distinct=True))
    )


def get_questionnaire(*, actor: Actor, questionnaire_id) -> Questionnaire:
    """One questionnaire of the actor's organisation (404 otherwise)."""
    actor.require(Perm.CAMPAIGNS_VIEW)
    return _get(
        Questionnaire.objects.filter(deleted_at__isnull=True).select_related("current_version"),
        questionnaire_id,
        "questionnaire",
    )


def get_question(*, actor: Actor, question_id) -> Question:
    actor.require(Perm.CAMPAIGNS_VIEW)
    return _get(
        Question.objects.select_related("questionnaire").filter(questionnaire__deleted_at__isnull=True),
        question_id,
        "question",
    )


def submissions(*, actor: Actor, questionnaire: Questionnaire, status: str = "") -> QuerySet:
    """A questionnaire's submissions, newest first (answers stay unread until one is opened)."""
    actor.require(Perm.CAMPAIGNS_VIEW, questionnaire)
    rows = Submission.objects.filter(questionnaire=questionnaire).select_related("contact", "version")
    if status == "to_review":
        rows = rows.filter(reviewed_at__isnull=True)
    elif status == "conflicts":
        rows = rows.filter(contact_update=Submission.ContactUpdate.CONFLICTS)
    return rows.defer("answers")


def open_submission(*, actor: Actor, submission_id) -> Submission:
    """One submission with its answers: a PHI read, audited (INTAKE_SUBMISSION_VIEWED)."""
    actor.require(Perm.CAMPAIGNS_VIEW)
    submission = _get(
        Submission.objects.select_related("questionnaire", "version", "contact", "session"),
        submission_id,
        "submission",
    )
    audit.record(
        AuditAction.INTAKE_SUBMISSION_VIEWED,
        target=submission,
        actor=actor,
        detail={"submission_id": submission.pk, "questionnaire_id": submission.questionnaire_id},
    )
    return submission


def conflicts_of(submission: Submission) -> list[ContactFieldConflict]:
    return list(submission.conflicts.all())


def get_conflict(*, actor: Actor, conflict_id) -> ContactFieldConflict:
    actor.require(Perm.CAMPAIGNS_VIEW)
    return _get(ContactFieldConflict.objects.select_related("submission__contact"), conflict_id, "difference")


def get_session(*, actor: Actor, session_id) -> IntakeSession:
    actor.require(Perm.CAMPAIGNS_VIEW)
    return _get(IntakeSession.objects.select_related("questionnaire"), session_id, "session")


def sessions_in_progress(*, actor: Actor, questionnaire: Questionnaire) -> list[IntakeSession]:
    """Sessions being answered now, oldest activity first (ids, positions, times: no answers read)."""
    actor.require(Perm.CAMPAIGNS_VIEW, questionnaire)
    rows = (
        questionnaire.sessions.filter(status=IntakeSession.Status.ACTIVE)
        .select_related("version")
        .defer("answers")
        .order_by("last_activity_at")[:200]
    )
    for session in rows:
        questions = session.version.questions
        session.asking = questions[session.position]["key"] if 0 <= session.position < len(questions) else ""
    return list(rows)


def open_photo(*, actor: Actor, photo_id) -> tuple[IntakePhoto, bytes]:
    """A photo answer's image: a PHI read, audited (INTAKE_PHOTO_VIEWED)."""
    actor.require(Perm.CAMPAIGNS_VIEW)
    photo = _get(IntakePhoto.objects.all(), photo_id, "photo")
    audit.record(
        AuditAction.INTAKE_PHOTO_VIEWED,
        target=photo,
        actor=actor,
        detail={"photo_id": photo.pk, "session_id": photo.session_id},
    )
    return photo, photo_bytes(photo)


@dataclass(frozen=True)
class QuestionDropOff:
    key: str
    prompt: str
    stopped_here: int  # sessions that ended (expired/stopped/…) while this question was asked
    percent: int


@dataclass(frozen=True)
class Results:
    started: int
    in_progress: int
    completed: int
    expired: int
    stopped: int
    other: int
    drop_off: list[QuestionDropOff]

    @property
    def completion_percent(self) -> int:
        return round(100 * self.completed / self.started) if self.started else 0


def results(*, actor: Actor, questionnaire: Questionnaire) -> Results:
    """Started / completed / expired / stopped, and which question sessions ended on. No PHI."""
    actor.require(Perm.CAMPAIGNS_VIEW, questionnaire)
    counts = dict(questionnaire.sessions.values_list("status").annotate(n=Count("pk")).order_by())
    status = IntakeSession.Status
    started = sum(counts.values())
    ended = (
        questionnaire.sessions.exclude(status__in=[status.ACTIVE, status.COMPLETED])
        .values_list("version_id", "position")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_key: dict[str, int] = {}
    versions = {v.pk: v.questions for v in questionnaire.versions.all()}
    for version_id, position, n in ended:
        questions = versions.get(version_id) or []
        if 0 <= position < len(questions):
            key = questions[position]["key"]
            by_key[key] = by_key.get(key, 0) + n
    dropped = sum(by_key.values())
    current = questionnaire.current_version.questions if questionnaire.current_version else []
    keys = [q["key"] for q in current] + sorted(k for k in by_key if k not in {q["key"] for q in current})
    prompts = {q["key"]: q["prompt"] for qs in versions.values() for q in qs}
    drop_off = [
        QuestionDropOff(
            key=k,
            prompt=prompts.get(k, k),
            stopped_here=by_key.get(k, 0),
            percent=round(100 * by_key.get(k, 0) / dropped) if dropped else 0,
        )
        for k in keys
    ]
    return Results(
        started=started,
        in_progress=counts.get(status.ACTIVE, 0),
        completed=counts.get(status.COMPLETED, 0),
        expired=counts.get(status.EXPIRED, 0),
        stopped=counts.get(status.STOPPED, 0),
        other=counts.get(status.TAKEN_OVER, 0) + counts.get(status.CANCELLED, 0),
        drop_off=drop_off,
    )
