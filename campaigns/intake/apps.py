"""Wiring of the intake bot, called from ``CampaignsConfig.ready()``."""

from __future__ import annotations

from django.db.models.signals import post_save


def register_intake() -> None:
    """Register the inbound handler, the admin pages and the Celery tasks."""
    from campaigns.intake import admin, tasks  # noqa: F401  (registers the Celery tasks)
    from campaigns.intake.engine import handle_inbound, listens_to
    from campaigns.intake.models import IntakeSession, Questionnaire
    from messaging.inbound import register_inbound_handler

    register_inbound_handler(handle_inbound, wants=listens_to, watch=[Questionnaire])
    # A session's own saves (one per answer) never turn listening on; only a new one does.
    post_save.connect(_session_opened, sender=IntakeSession, dispatch_uid="intake-session-opened")
    admin.register()


def _session_opened(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    from messaging.inbound import interest_changed

    if created and not raw:
        interest_changed(instance.organization_id)
