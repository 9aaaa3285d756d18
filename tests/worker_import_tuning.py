"""Loaded into a test Celery worker (-I): prepare even a small import in worker processes, in
chunks of 7 rows, whatever the machine's CPU count."""

from contacts.importing import runner

runner.PARALLEL_MIN_ROWS = 0
runner.BATCH_ROWS = 7
runner._usable_cpus = lambda: 2
