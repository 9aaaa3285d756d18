"""Celery tasks of the intake bot: reminders and expiry. Ids only; safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.tenancy import OrgTask
from campaigns.intake import engine
from campaigns.intake.models import IntakeSession
from campaigns.intake.quiet_hours import in_quiet_hours

logger = logging.getLogger(__name__)


@shared_task(name="intake.sweep_sessions")
def sweep_sessions() -> int:
    """Find silent sessions due a reminder or expiry and hand each to ``nudge_session``.

    Ops code across organisations, reading ids only; Celery beat runs it every 5 minutes.
    """
    now = timezone.now()
    with scopes_disabled():  # ops sweep across organisations: ids and timestamps, no PHI read
        candidates = (
            IntakeSession.objects.filter(status=IntakeSession.Status.ACTIVE)
            .select_related("questionnaire")
            .only(
                "pk",
                "organization_id",
                "last_activity_at",
                "reminded_at",
                "questionnaire__reminder_after_minutes",
                "questionnaire__expire_after_minutes",
            )
            .order_by("last_activity_at")[:5000]
        )
        due = [(s.organization_id, s.pk) for s in candidates if _due(s, now)]
    for organization_id, session_id in due:
        nudge_session.delay(org_id=organization_id, session_id=session_id)
    return len(due)


def _due(session: IntakeSession, now) -> bool:
    silence = now - session.last_activity_at
    questionnaire = session.questionnaire
    if silence >= timedelta(minutes=questionnaire.expire_after_minutes):
        return True
    return session.reminded_at is None and silence >= timedelta(minutes=questionnaire.reminder_after_minutes)


@shared_task(base=OrgTask, name="intake.nudge_session", acks_late=True)
def nudge_session(*, org_id: int, session_id: int) -> str:
    """Remind or expire one session, never in the patient's quiet hours (then a later sweep does it)."""
    return nudge(session_id)


def nudge(session_id: int) -> str:
    """What ``nudge_session`` does, callable in a scope (tests, the management command)."""
    with transaction.atomic():
        session = (
            IntakeSession.objects.select_related(
                "version", "questionnaire", "contact", "channel", "organization"
            )
            .filter(pk=session_id)
            .first()
        )
        if session is None:
            return "gone"
        engine.lock_patient(session.organization_id, session.contact_id, session.channel_id)
        session.refresh_from_db()
        now = timezone.now()
        if session.status != IntakeSession.Status.ACTIVE or not _due(session, now):
            return "nothing"
        if in_quiet_hours(session.contact, session.organization, now):
            return "quiet"
        silence = now - session.last_activity_at
        if silence >= timedelta(minutes=session.questionnaire.expire_after_minutes):
            engine.expire(session, notify=True)
            session.save()
            return "expired"
        engine.remind(session)
        session.save()
        return "reminded"
