"""`manage.py sweep_imports [--in-process]`: start imports left queued, resume those whose runner died.

Celery beat runs the same sweep every minute; this is the door for ops (and for the embedded
set-up without a broker, where imports run in the web process). `--in-process` runs the jobs
here, one after another, instead of handing them to the broker (use it while the broker is down).
"""

from django.core.management.base import BaseCommand

from contacts.importing.sweeper import sweep


class Command(BaseCommand):
    help = "Dispatch queued contact imports and resume imports whose runner stopped (stale heartbeat)."

    def add_arguments(self, parser):
        parser.add_argument("--in-process", action="store_true",
                            help="Run the jobs in this process instead of handing them to the broker.")

    def handle(self, *args, in_process: bool = False, **options):
        result = sweep(in_process=in_process)
        self.stdout.write(f"queued={result.queued} resumed={result.resumed} broker_down={result.broker_down}")
        if result.broker_down:
            self.stderr.write("The broker is still unreachable: run again with --in-process, "
                              "or once it is back.")
