"""Wiring of the intake bot, called from ``CampaignsConfig.ready()``."""

from __future__ import annotations


def register_intake() -> None:
    """Register the inbound handler, the admin pages and the Celery tasks."""
    from campaigns.intake import admin, tasks  # noqa: F401  (registers the Celery tasks)
    from campaigns.intake.engine import handle_inbound
    from messaging.inbound import register_inbound_handler

    register_inbound_handler(handle_inbound)
    admin.register()
