"""Every write of the intake bot staff make: questionnaires and their versions, starting a
session for a patient, reviewing submissions, resolving contact-field conflicts, taking over.

Each service takes ``actor`` and checks its own permission; writes are audited (ids and
field names only, never answers).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from campaigns.intake import engine, patients
from campaigns.intake.models import (
    ContactFieldConflict,
    IntakeSession,
    Question,
    Questionnaire,
    QuestionnaireVersion,
    Submission,
)
from messaging.models import Channel
from messaging.services.outbound import SendRefused

QUESTIONNAIRE_FIELDS = (
    "name",
    "language",
    "start_keywords",
    "intro",
    "completion_message",
    "reminder_message",
    "expiry_message",
    "reminder_after_minutes",
    "expire_after_minutes",
    "update_contact",
    "is_active",
)
QUESTION_FIELDS = (
    "key",
    "kind",
    "prompt",
    "required",
    "reask_message",
    "max_length",
    "min_value",
    "max_value",
    "choices",
    "allow_future",
    "condition_key",
    "condition_value",
    "contact_field",
)


class IntakeError(Exception):
    """A staff action that cannot be done; ``message`` says what to do instead, ``code`` names the
    case for programs (the partner API), ``refusal`` is messaging's when it refused the send."""

    def __init__(self, message: str, code: str = "intake_refused", refusal=None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.refusal = refusal


def _changed(questionnaire: Questionnaire, actor: Actor, what: str) -> None:
    audit.record(
        AuditAction.INTAKE_QUESTIONNAIRE_CHANGED,
        target=questionnaire,
        actor=actor,
        detail={
            "questionnaire_id": questionnaire.pk,
            "change": what,
            "version": questionnaire.current_version.number if questionnaire.current_version else 0,
        },
    )


@transaction.atomic
def create_questionnaire(*, actor: Actor, **values) -> Questionnaire:
    """A new questionnaire (no questions yet: patients cannot start it until one is added)."""
    actor.require(Perm.CAMPAIGNS_MANAGE)
    _check_keywords(values.get("start_keywords", ""), exclude=None)
    questionnaire = Questionnaire.objects.create(
        organization_id=actor.organization_id,
        **{k: v for k, v in values.items() if k in QUESTIONNAIRE_FIELDS},
    )
    publish(questionnaire)
    _changed(questionnaire, actor, "created")
    return questionnaire


@transaction.atomic
def update_questionnaire(*, questionnaire: Questionnaire, actor: Actor, **values) -> Questionnaire:
    """Change the questionnaire's texts or settings; sessions in flight keep their version."""
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    _check_keywords(values.get("start_keywords", questionnaire.start_keywords), exclude=questionnaire.pk)
    for key, value in values.items():
        if key in QUESTIONNAIRE_FIELDS:
            setattr(questionnaire, key, value)
    questionnaire.save()
    publish(questionnaire)
    _changed(questionnaire, actor, "settings")
    return questionnaire


def _check_keywords(raw: str, exclude: int | None) -> None:
    wanted = {k.strip().upper() for k in (raw or "").replace(";", ",").split(",") if k.strip()}
    reserved = wanted & {
        "STOP",
        "START",
        "HELP",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "STOPALL",
        "INFO",
        "BACK",
        "SKIP",
        "RESTART",
    }
    if reserved:
        raise IntakeError(
            f"{', '.join(sorted(reserved))} is reserved for opt-out, help and navigation: "
            "choose another start keyword."
        )
    others = Questionnaire.objects.filter(deleted_at__isnull=True).exclude(pk=exclude)
    for other in others:
        taken = wanted & set(other.keywords())
        if taken:
            raise IntakeError(
                f"The keyword {', '.join(sorted(taken))} already starts “{other.name}”: choose "
                "another one, or remove it there first."
            )


def snapshot_of(questionnaire: Questionnaire) -> dict:
    """The frozen texts and question rules a version carries (clinic-written, not PHI)."""
    questions = []
    for question in questionnaire.questions.all():
        entry = {field: getattr(question, field) for field in QUESTION_FIELDS}
        for number in ("min_value", "max_value"):
            entry[number] = None if entry[number] is None else str(entry[number])
        questions.append(entry)
    keywords = questionnaire.keywords()
    return {
        "name": questionnaire.name,
        "language": questionnaire.language,
        "intro": questionnaire.intro,
        "completion_message": questionnaire.completion_message,
        "reminder_message": questionnaire.reminder_message,
        "expiry_message": questionnaire.expiry_message,
        "keyword": keywords[0] if keywords else "",
        "questions": questions,
    }


def publish(questionnaire: Questionnaire) -> QuestionnaireVersion:
    """Make the working copy the current version.

    A version no session has used yet is updated in place; once a patient has started it,
    a new version is made, so every session finishes on the version it started.
    """
    snapshot = snapshot_of(questionnaire)
    current = questionnaire.current_version
    if current is not None and current.snapshot == snapshot:
        return current
    if current is not None and not IntakeSession.objects.filter(version=current).exists():
        current.snapshot = snapshot
        current.save(update_fields=["snapshot"])
        return current
    number = (
        QuestionnaireVersion.objects.filter(questionnaire=questionnaire).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    version = QuestionnaireVersion.objects.create(
        organization_id=questionnaire.organization_id,
        questionnaire=questionnaire,
        number=number,
        snapshot=snapshot,
    )
    questionnaire.current_version = version
    questionnaire.save(update_fields=["current_version", "updated_at"])
    return version


def _clean_question(questionnaire: Questionnaire, values: dict, exclude: int | None) -> dict:
    cleaned = {k: v for k, v in values.items() if k in QUESTION_FIELDS}
    key = cleaned.get("key")
    if key and questionnaire.questions.filter(key=key).exclude(pk=exclude).exists():
        raise IntakeError(
            f"Another question already uses the key “{key}”: keys name export columns, so each "
            "must be different."
        )
    kind = cleaned.get("kind")
    choices = [c.strip() for c in cleaned.get("choices") or [] if str(c).strip()]
    cleaned["choices"] = choices
    if kind in ("single_choice", "multiple_choice") and len(choices) < 2:
        raise IntakeError("A choice question needs at least two options, one per line.")
    if len({c.casefold() for c in choices}) != len(choices):
        raise IntakeError("Two options are the same: make each option different.")
    condition = cleaned.get("condition_key")
    if condition:
        earlier = questionnaire.questions.filter(key=condition)
        if exclude is not None:
            position = Question.objects.get(pk=exclude).position
            earlier = earlier.filter(position__lt=position)
        if not earlier.exists():
            raise IntakeError(
                f"The condition names “{condition}”, which is not an earlier question: use the key "
                "of a question asked before this one."
            )
    return cleaned


@transaction.atomic
def add_question(*, questionnaire: Questionnaire, actor: Actor, **values) -> Question:
    """Append a question and publish (a new version if patients are answering the current one)."""
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    cleaned = _clean_question(questionnaire, values, exclude=None)
    position = (questionnaire.questions.aggregate(p=Max("position"))["p"] or 0) + 1
    question = Question.objects.create(
        organization_id=questionnaire.organization_id,
        questionnaire=questionnaire,
        position=position,
        **cleaned,
    )
    publish(questionnaire)
    _changed(questionnaire, actor, "question_added")
    return question


@transaction.atomic
def update_question(*, question: Question, actor: Actor, **values) -> Question:
    """Change a question and publish."""
    questionnaire = question.questionnaire
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    for key, value in _clean_question(questionnaire, values, exclude=question.pk).items():
        setattr(question, key, value)
    question.save()
    publish(questionnaire)
    _changed(questionnaire, actor, "question_changed")
    return question


@transaction.atomic
def remove_question(*, question: Question, actor: Actor) -> None:
    """Delete a question and publish (sessions on older versions still ask it)."""
    questionnaire = question.questionnaire
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    if questionnaire.questions.filter(condition_key=question.key).exclude(pk=question.pk).exists():
        raise IntakeError("A later question's condition depends on this one: change that condition first.")
    question.delete()
    publish(questionnaire)
    _changed(questionnaire, actor, "question_removed")


@transaction.atomic
def move_question(*, question: Question, actor: Actor, up: bool) -> None:
    """Swap a question with its neighbour (conditions must still point backwards)."""
    questionnaire = question.questionnaire
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    ordered = list(questionnaire.questions.all())
    index = next(i for i, q in enumerate(ordered) if q.pk == question.pk)
    other_index = index - 1 if up else index + 1
    if not 0 <= other_index < len(ordered):
        return
    ordered[index], ordered[other_index] = ordered[other_index], ordered[index]
    seen: set[str] = set()
    for q in ordered:
        if q.condition_key and q.condition_key not in seen:
            raise IntakeError("That move would ask a question before the one its condition depends on.")
        seen.add(q.key)
    for position, q in enumerate(ordered, start=1):
        if q.position != position:
            Question.objects.filter(pk=q.pk).update(position=position)
    publish(questionnaire)
    _changed(questionnaire, actor, "question_moved")


@transaction.atomic
def delete_questionnaire(*, questionnaire: Questionnaire, actor: Actor) -> int:
    """Remove a questionnaire: sessions in flight end politely; submissions stay for export.

    Returns how many sessions were ended.
    """
    actor.require(Perm.CAMPAIGNS_MANAGE, questionnaire)
    questionnaire.deleted_at = timezone.now()
    questionnaire.is_active = False
    questionnaire.save(update_fields=["deleted_at", "is_active", "updated_at"])
    ended = 0
    for session in questionnaire.sessions.filter(status=IntakeSession.Status.ACTIVE).select_related(
        "version", "contact", "channel", "organization", "questionnaire"
    ):
        engine.cancel(session)
        ended += 1
    audit.record(
        AuditAction.INTAKE_QUESTIONNAIRE_DELETED,
        target=questionnaire,
        actor=actor,
        detail={"questionnaire_id": questionnaire.pk, "sessions_ended": ended},
    )
    return ended


def start_for_contact(
    *,
    questionnaire: Questionnaire,
    contact_id: int,
    channel: Channel,
    actor: Actor,
    via: str = IntakeSession.Via.STAFF,
    contact=None,
) -> IntakeSession:
    """Staff (or a campaign, ``via="campaign"``) send a patient the questionnaire's first question.

    ``contact``: the patient already read by the caller (a campaign's chunk), not read again."""
    actor.require(Perm.MESSAGES_SEND, questionnaire)
    actor.require_same_organization(channel)
    if questionnaire.deleted_at is not None or not questionnaire.is_active:
        raise unstartable(questionnaire)
    if contact is None or contact.pk != contact_id:
        contact = patients.contact_for_staff(contact_id=contact_id, actor=actor)
    else:
        actor.require_same_organization(contact)
    try:
        session = engine.start_session(
            questionnaire=questionnaire,
            contact=contact,
            channel=channel,
            conversation_id=None,
            via=via,
            actor=actor,
            # One patient started by staff shows in the inbox at once; a campaign's thousands
            # join a thread when they answer (engine._join_thread), as campaign messages do.
            open_thread=via == IntakeSession.Via.STAFF,
        )
    except SendRefused as refused:
        raise IntakeError(f"Nothing was sent: {refused.message}", refused.reason_code, refused) from None
    if session is None:
        if engine.active_session(contact.pk, channel.pk) is not None:
            raise IntakeError(
                "This patient is already answering a questionnaire on that channel: wait for it to "
                "finish or expire, or take the conversation over in the inbox.",
                "intake_in_progress",
            )
        raise unstartable(questionnaire) or IntakeError(_EMPTY, "questionnaire_empty")
    return session


_INACTIVE = "This questionnaire is switched off: switch it on before sending it."
_EMPTY = "This questionnaire has no questions yet: add one first."


def unstartable(questionnaire: Questionnaire) -> IntakeError | None:
    """Why nobody can be sent ``questionnaire`` now (switched off or deleted, no questions), or None.
    Campaigns ask it when a campaign names one."""
    if questionnaire.deleted_at is not None or not questionnaire.is_active:
        return IntakeError(_INACTIVE, "questionnaire_inactive")
    version = questionnaire.current_version
    if version is None or not version.questions:
        return IntakeError(_EMPTY, "questionnaire_empty")
    return None


@transaction.atomic
def take_over(*, session: IntakeSession, actor: Actor) -> None:
    """Staff take the conversation over: the bot stops asking."""
    actor.require(Perm.MESSAGES_SEND, session)
    if session.status == IntakeSession.Status.ACTIVE:
        session.status, session.ended_at = IntakeSession.Status.TAKEN_OVER, timezone.now()
        session.save(update_fields=["status", "ended_at"])
        audit.record(
            AuditAction.INTAKE_SESSION_TAKEN_OVER,
            target=session,
            actor=actor,
            detail={"session_id": session.pk},
        )


@transaction.atomic
def mark_reviewed(*, submission: Submission, actor: Actor, reviewed: bool = True) -> Submission:
    """Mark a submission reviewed (or not yet)."""
    actor.require(Perm.CONTACTS_EDIT, submission)
    submission.reviewed_at = timezone.now() if reviewed else None
    submission.reviewed_by_id = actor.user_id if reviewed else None
    submission.save(update_fields=["reviewed_at", "reviewed_by"])
    audit.record(
        AuditAction.INTAKE_SUBMISSION_REVIEWED,
        target=submission,
        actor=actor,
        detail={"submission_id": submission.pk, "reviewed": reviewed},
    )
    return submission


@transaction.atomic
def resolve_conflict(*, conflict: ContactFieldConflict, actor: Actor, accept: bool) -> ContactFieldConflict:
    """Accept (write the patient's answer into the contact) or reject a conflicting value."""
    actor.require(Perm.CONTACTS_EDIT, conflict)
    conflict = ContactFieldConflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != ContactFieldConflict.Status.PENDING:
        raise IntakeError("Someone already resolved this difference: reload the page.")
    submission = conflict.submission
    if accept:
        if submission.contact is None:
            raise IntakeError("The patient's record was deleted: there is nothing to update.")
        try:
            patients.apply_fields(
                contact=patients.refresh(submission.contact),
                values={conflict.field: conflict.proposed},
                actor=actor,
            )
        except ValueError as exc:
            raise IntakeError(
                f"The contact record refused the value: {exc} Edit the contact by hand."
            ) from None
    conflict.status = ContactFieldConflict.Status.ACCEPTED if accept else ContactFieldConflict.Status.REJECTED
    conflict.resolved_at, conflict.resolved_by_id = timezone.now(), actor.user_id
    conflict.save(update_fields=["status", "resolved_at", "resolved_by"])
    if not submission.conflicts.filter(status=ContactFieldConflict.Status.PENDING).exists():
        Submission.objects.filter(pk=submission.pk).update(contact_update=Submission.ContactUpdate.APPLIED)
    audit.record(
        AuditAction.INTAKE_CONFLICT_RESOLVED,
        target=submission,
        actor=actor,
        detail={"submission_id": submission.pk, "field": conflict.field, "accepted": accept},
    )
    return conflict
