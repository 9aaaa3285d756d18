"""The conversation engine: an inbound message in, the next question (or a re-ask) out.

Registered with ``messaging.inbound`` (campaigns/apps.py): it runs in a Celery task inside
the organisation's scope, after keywords and consent were applied. Per (contact, channel) it
takes a transaction-scoped advisory lock and remembers the last inbound message it handled,
so provider retries, duplicate tasks and two answers arriving at once are handled in order,
each once: whichever task gets the lock handles every stored message up to its own.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.db_conflicts import retrying_conflicts
from accounts.prepared_query import PreparedQuery
from accounts.row_writes import save_fields
from audit import AuditAction
from campaigns import partner_events
from campaigns.intake import outbox, patients
from campaigns.intake.answers import Context, InvalidAnswer, fold, parse_answer
from campaigns.intake.conversation import (
    BACK_WORDS,
    RESTART_WORDS,
    SKIP_WORDS,
    applicable_answers,
    next_position,
    render_question,
)
from campaigns.intake.models import (
    IntakePhoto,
    IntakeSession,
    Questionnaire,
    Submission,
)
from campaigns.intake.photos import store_photo_answer
from campaigns.intake.texts import text
from messaging.inbound import InboundEvent
from messaging.models import Channel, Message
from messaging.services.conversations import open_conversation
from messaging.services.queueing import sending_here

logger = logging.getLogger(__name__)

BOT_JOB = "intake-bot"
_LOCK_NAMESPACE = 0x494E544B  # "INTK"
# An answer this long after a session expired still gets the expiry notice (once).
LATE_REPLY_WINDOW = timedelta(days=7)


def bot_actor(organization_id: int) -> Actor:
    return Actor.system(BOT_JOB, organization_id=organization_id)


def lock_patient(organization_id: int, contact_id: int, channel_id: int) -> None:
    """Serialise everything the bot does for one patient on one channel (until commit)."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"{organization_id}:{contact_id}:{channel_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [_LOCK_NAMESPACE, int.from_bytes(digest[:4], "big", signed=True)],
        )


def active_session(contact_id: int, channel_id: int) -> IntakeSession | None:
    """The patient's session in progress on this channel, with what answering it reads: also
    whether staff have replied in its thread since it began (``staff_replied``)."""
    # Six tables, the patient included (every next question reads address and consent): an
    # eight-way join took PostgreSQL ~12 ms to plan, but prepared on its connection
    # (DB_PREPARED_STATEMENTS) this one is planned once, not at every answer. The conversation
    # loads by id when first read; the channel's organisation is the session's. Whether staff
    # took over is in the same read. SQL compiled once per process (accounts/prepared_query.py).
    session = _ACTIVE_SESSION.first(contact_id=contact_id, channel_id=channel_id)
    if session is not None:
        session.channel.organization = session.organization
    return session


def _active_sessions(contact_id: int, channel_id: int):
    staff_replied = Exists(_staff_replies(OuterRef("conversation_id"), OuterRef("started_at")))
    # At most one row (intake_one_active_session_per_contact_channel): no ORDER BY to compile.
    return (IntakeSession.objects
            .select_related("version", "questionnaire", "channel", "organization", "contact")
            .annotate(staff_replied=staff_replied)
            .filter(contact_id=contact_id, channel_id=channel_id, status=IntakeSession.Status.ACTIVE)[:1])


_ACTIVE_SESSION = PreparedQuery(_active_sessions, "contact_id", "channel_id")
_PENDING_ANSWERS = PreparedQuery(
    lambda channel_id, contact_id, after_id, upto_id: Message.objects.filter(
        channel_id=channel_id, contact_id=contact_id, direction=Message.Direction.INBOUND,
        pk__gt=after_id, pk__lte=upto_id).order_by("pk"),
    "channel_id", "contact_id", "after_id", "upto_id")


def _staff_replies(conversation_id, since):
    return Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.OUTBOUND,
                                  origin=Message.Origin.STAFF, created_at__gte=since)


# --- the inbound hook ----------------------------------------------------------------------------
def listens_to(organization_id: int) -> bool:
    """The inbound hook's interest: a keyword can start a questionnaire, or a session is open
    (or expired lately: a late answer gets the expiry message).

    A new questionnaire or session reports itself (``apps.register_intake``); interest that
    ends (a session completes) lapses with the cached answer."""
    startable = Questionnaire.objects.filter(
        organization_id=organization_id, is_active=True, deleted_at__isnull=True,
        current_version__isnull=False,
    ).exclude(start_keywords="")
    if startable.exists():
        return True
    open_or_late = Q(status=IntakeSession.Status.ACTIVE) | Q(
        status=IntakeSession.Status.EXPIRED, ended_at__gte=timezone.now() - LATE_REPLY_WINDOW
    )
    return IntakeSession.objects.filter(open_or_late, organization_id=organization_id).exists()


def handle_inbound(event: InboundEvent) -> None:
    """messaging.inbound handler: start a questionnaire on its keyword, or take the next answer.

    A database deadlock or serialization failure (busy organisations share one audit chain) is
    retried a few times: the whole step rolled back, so a retry is the same step again.
    """
    if event.contact_id is None:
        return

    def step() -> None:
        # The patient waits for the next question: this worker sends it once the answer commits.
        with sending_here():
            _handle_inbound(event)

    retrying_conflicts(step, what=f"intake: message {event.message_id}")


def _handle_inbound(event: InboundEvent) -> None:
    # Audit events are appended at the end: the audit chain is the last lock taken, as in every
    # writer (audit.deferred), whatever the answer made the bot do along the way.
    with transaction.atomic(), audit.deferred():
        lock_patient(event.organization_id, event.contact_id, event.channel_id)
        session = active_session(event.contact_id, event.channel_id)
        if session is None:
            message = (Message.objects.select_related("channel").filter(pk=event.message_id)
                       .order_by("pk").first())
            if message is not None:
                _no_session(event, message)
            return
        if event.message_id <= session.last_message_id:
            return  # handled already (a retry, or an earlier task took it with a later message)
        # This message and any before it the bot has not handled yet (the same query reads it).
        pending = _PENDING_ANSWERS.all(channel_id=event.channel_id, contact_id=event.contact_id,
                                       after_id=session.last_message_id, upto_id=event.message_id)
        for inbound in pending:
            if session.status != IntakeSession.Status.ACTIVE:
                break
            session.last_message_id = inbound.pk
            if session.conversation_id is None and inbound.conversation_id is not None:
                _join_thread(session, inbound.conversation_id)
            _handle_message(session, inbound)
        save_fields(session)  # every column, as save(): its SQL compiled once (accounts/row_writes.py)


def _join_thread(session: IntakeSession, conversation_id: int) -> None:
    """A session started without a thread (by a campaign) joins the one the patient's answer
    opened, with the questions sent so far: staff read them in the inbox, above the answers, and
    can take the conversation over."""
    session.conversation_id = conversation_id
    session.staff_replied = _staff_replies(conversation_id, session.started_at).exists()
    Message.objects.filter(
        channel_id=session.channel_id, contact_id=session.contact_id, conversation__isnull=True,
        direction=Message.Direction.OUTBOUND, origin=Message.Origin.INTAKE,
        created_at__gte=session.started_at,
    ).update(conversation_id=conversation_id)


def _no_session(event: InboundEvent, message: Message) -> None:
    if event.keyword:
        return  # STOP/START/HELP were answered by messaging
    word = fold(message.body or "").strip(".!").upper()
    questionnaire = _questionnaire_for_keyword(word)
    if questionnaire is not None:
        start_session(
            questionnaire=questionnaire,
            contact=message.contact,
            channel=message.channel,
            conversation_id=message.conversation_id,
            via=IntakeSession.Via.KEYWORD,
            trigger_message_id=message.pk,
        )
        return
    _answer_late_reply(event, message)


def _questionnaire_for_keyword(word: str) -> Questionnaire | None:
    if not word or len(word) > 40:
        return None
    for questionnaire in Questionnaire.objects.filter(
        is_active=True, deleted_at__isnull=True, current_version__isnull=False
    ):
        if word in (fold(k).upper() for k in questionnaire.keywords()):
            return questionnaire
    return None


def _answer_late_reply(event: InboundEvent, message: Message) -> None:
    """An answer after expiry: the expiry message (once per session), not silence or a crash."""
    latest = (
        IntakeSession.objects.select_related("version", "questionnaire", "contact", "channel")
        .filter(contact_id=event.contact_id, channel_id=event.channel_id)
        .first()
    )
    if (
        latest is None
        or latest.status != IntakeSession.Status.EXPIRED
        or latest.late_reply_answered
        or message.pk <= latest.last_message_id
        or timezone.now() - (latest.ended_at or timezone.now()) > LATE_REPLY_WINDOW
    ):
        return
    latest.late_reply_answered = True
    latest.last_message_id = message.pk
    latest.save(update_fields=["late_reply_answered", "last_message_id"])
    outbox.send_to_patient(session=latest, body=_expiry_text(latest))


# --- starting ------------------------------------------------------------------------------------
def start_session(
    *,
    questionnaire: Questionnaire,
    contact,
    channel: Channel,
    conversation_id: int | None,
    via: str,
    trigger_message_id: int = 0,
    actor: Actor | None = None,
    open_thread: bool = False,
) -> IntakeSession | None:
    """Open a session on the questionnaire's current version and ask its first question.

    None when the patient already has a session on this channel (one at a time) or the
    questionnaire has nothing to ask. The caller holds no lock: this takes the patient's.
    ``open_thread``: a member starts it for one patient, so the patient's open conversation
    (opened now if there is none, and rolled back with the session) holds it in the inbox.
    """
    with transaction.atomic(), audit.deferred():
        lock_patient(questionnaire.organization_id, contact.pk, channel.pk)
        if active_session(contact.pk, channel.pk) is not None:
            return None
        version = questionnaire.current_version
        if version is None or not version.questions:
            return None
        if conversation_id is None and open_thread and actor is not None:
            conversation_id = open_conversation(channel=channel, contact=contact, actor=actor).pk
        elif conversation_id is None:
            conversation_id = (
                channel.conversations.filter(contact=contact, status="open")
                .values_list("pk", flat=True)
                .first()
            )
        now = timezone.now()
        session = IntakeSession.objects.create(
            organization_id=questionnaire.organization_id,
            questionnaire=questionnaire,
            version=version,
            contact=contact,
            channel=channel,
            conversation_id=conversation_id,
            via=via,
            last_message_id=trigger_message_id,
            last_activity_at=now,
            answers={},
            position=0,
        )
        position = next_position(version.questions, 0, {})
        session.position = position if position is not None else 0
        session.save(update_fields=["position"])
        snapshot = version.snapshot
        intro = (
            snapshot.get("intro") or text(_language(session), "intro", org=session.organization.name)
        ).strip()
        # Staff and campaigns learn when messaging refuses the first question (opted out, WhatsApp
        # window closed): the session is then rolled back rather than left waiting for nothing.
        _ask(session, prefix=intro, strict=via != IntakeSession.Via.KEYWORD)
        # Audited after the send: messaging locks the conversation row, then the audit chain;
        # taking the chain first here would deadlock against a webhook of the same patient.
        audit.record(
            AuditAction.INTAKE_SESSION_STARTED,
            target=session,
            actor=actor or bot_actor(session.organization_id),
            detail={"questionnaire_id": questionnaire.pk, "version": version.number, "via": via},
        )
        return session


# --- one message ----------------------------------------------------------------------------------
def _language(session: IntakeSession) -> str:
    return session.version.snapshot.get("language") or "en"


def _context(session: IntakeSession) -> Context:
    return Context(
        language=_language(session), region=session.organization.default_region, today=timezone.localdate()
    )


def _handle_message(session: IntakeSession, message: Message) -> None:
    keyword = (message.payload or {}).get("keyword")
    if keyword == "stop":  # STOP always wins
        _end(session, IntakeSession.Status.STOPPED)  # nothing more is sent: consent already off
        return
    if session.questionnaire.deleted_at is not None:
        _end(session, IntakeSession.Status.CANCELLED)
        outbox.send_to_patient(session=session, body=text(_language(session), "cancelled"))
        return
    if _staff_took_over(session):
        _end(session, IntakeSession.Status.TAKEN_OVER)
        return
    now = timezone.now()
    if now - session.last_activity_at >= timedelta(minutes=session.questionnaire.expire_after_minutes):
        expire(session, notify=True)
        session.late_reply_answered = True
        return
    session.last_activity_at = now
    if keyword == "help":
        _ask(session)  # messaging sent the HELP text; the patient keeps their place
        return
    # A START keyword in a session is an answer ("YES" is one of them); messaging already
    # recorded the opt-in.
    word = fold(message.body or "").strip(".!")
    questions = session.version.questions
    if word in RESTART_WORDS:
        IntakePhoto.objects.filter(session=session).delete()
        session.answers, session.history = {}, []
        session.position = next_position(questions, 0, {}) or 0
        _ask(session)
        return
    if word in BACK_WORDS:
        if not session.history:
            _ask(session, reason=text(_language(session), "nothing_to_go_back"))
            return
        session.position = session.history.pop()
        _ask(session)
        return
    question = questions[session.position]
    if word in SKIP_WORDS:
        if question.get("required", True):
            _ask(session, reason=text(_language(session), "required"))
            return
        session.answers.pop(question["key"], None)
        _advance(session)
        return
    try:
        value = _value_of(session, question, message)
    except InvalidAnswer as invalid:
        _ask(session, reason=invalid.reason)
        return
    session.answers[question["key"]] = value
    _advance(session)


def _value_of(session: IntakeSession, question: dict, message: Message):
    if question["kind"] == "photo":
        photo = store_photo_answer(
            session=session, question_key=question["key"], message=message, language=_language(session)
        )
        return {"photo_id": photo.pk}
    reply = (message.payload or {}).get("reply") or {}
    reply_id = str(reply.get("id") or "")
    prefix = f"{question['key']}:"
    reply_id = reply_id[len(prefix) :] if reply_id.startswith(prefix) else ""
    return parse_answer(question, message.body or "", _context(session), reply_id=reply_id)


def _staff_took_over(session: IntakeSession) -> bool:
    return session.conversation_id is not None and session.staff_replied


def _advance(session: IntakeSession) -> None:
    questions = session.version.questions
    following = next_position(questions, session.position + 1, session.answers)
    session.history.append(session.position)
    if following is None:
        complete(session)
        return
    session.position = following
    _ask(session)


def _ask(session: IntakeSession, *, reason: str = "", prefix: str = "", strict: bool = False) -> None:
    question = session.version.questions[session.position]
    language = _language(session)
    if reason:
        custom = (question.get("reask_message") or "").strip()
        prefix = f"{custom} ({reason})" if custom else text(language, "invalid", reason=reason)
    body, interactive = render_question(
        question, language=language, prefix=prefix, interactive=outbox.supports_interactive(session.channel)
    )
    outbox.send_to_patient(session=session, body=body, interactive=interactive, strict=strict)


def _end(session: IntakeSession, status: str) -> None:
    session.status = status
    session.ended_at = timezone.now()


# --- endings --------------------------------------------------------------------------------------
def complete(session: IntakeSession) -> Submission:
    """Store the submission (encrypted, with its version), update the contact, thank the patient."""
    _end(session, IntakeSession.Status.COMPLETED)
    session.answers = applicable_answers(session.version.questions, session.answers)
    session.save()
    submission = Submission.objects.create(
        organization_id=session.organization_id,
        questionnaire_id=session.questionnaire_id,
        version=session.version,
        session=session,
        contact=session.contact,
        answers=dict(session.answers),
        submitted_at=session.ended_at,
    )
    body = (
        session.version.snapshot.get("completion_message") or text(_language(session), "completion")
    ).strip()
    # The thank-you first, the audit events after (same lock order as messaging: conversation
    # row, then the organisation's audit chain).
    outbox.send_to_patient(session=session, body=body)
    audit.record(
        AuditAction.INTAKE_SUBMISSION_RECEIVED,
        target=submission,
        actor=bot_actor(session.organization_id),
        detail={
            "questionnaire_id": session.questionnaire_id,
            "version": session.version.number,
            "answers": len(submission.answers),
        },
    )
    if session.questionnaire.update_contact:
        patients.update_from_submission(session=session, submission=submission,
                                        actor=bot_actor(session.organization_id))
    partner_events.announce_intake_completed(submission)
    return submission


def _expiry_text(session: IntakeSession) -> str:
    snapshot = session.version.snapshot
    if snapshot.get("expiry_message"):
        return snapshot["expiry_message"]
    keyword = snapshot.get("keyword") or ""
    language = _language(session)
    return text(language, "expired", keyword=keyword) if keyword else text(language, "expired_no_keyword")


def expire(session: IntakeSession, *, notify: bool) -> None:
    """End a silent session as expired, telling the patient how to start again."""
    _end(session, IntakeSession.Status.EXPIRED)
    if notify:
        outbox.send_to_patient(session=session, body=_expiry_text(session))


def remind(session: IntakeSession) -> None:
    """A nudge after silence: the clinic's reminder and the question being asked."""
    language = _language(session)
    reminder = (session.version.snapshot.get("reminder_message") or text(language, "reminder")).strip()
    session.reminded_at = timezone.now()
    _ask(session, prefix=reminder)


def cancel(session: IntakeSession) -> None:
    """The questionnaire was removed: end the session with a polite word (caller saves nothing)."""
    with transaction.atomic():
        lock_patient(session.organization_id, session.contact_id, session.channel_id)
        _end(session, IntakeSession.Status.CANCELLED)
        session.save(update_fields=["status", "ended_at"])
        outbox.send_to_patient(session=session, body=text(_language(session), "cancelled"))
