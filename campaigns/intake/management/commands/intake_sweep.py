"""Run the intake reminder/expiry sweep once (what Celery beat does every 5 minutes)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaigns.intake.tasks import sweep_sessions


class Command(BaseCommand):
    help = "Remind or expire silent intake sessions now (outside each patient's quiet hours)."

    def handle(self, *args, **options) -> None:
        handed = sweep_sessions()
        self.stdout.write(f"intake sessions due a reminder or expiry: {handed}")
