"""Close every billing period that has ended: statements written, subscriptions rolled over.

Idempotent (safe to run every hour from Celery beat, or twice by hand): a period is closed
once, and a second run finds nothing to do. Also ends run-out trials and marks subscriptions
with an overdue statement past due.
"""

from django.core.management.base import BaseCommand

from billing.services import close_billing_periods


class Command(BaseCommand):
    help = "End run-out trials, close ended billing periods (statements) and mark overdue subscriptions."

    def handle(self, *args, **options):
        result = close_billing_periods()
        self.stdout.write(f"trials_ended={result.trials_ended} statements={result.statements} "
                          f"past_due={result.past_due}")
