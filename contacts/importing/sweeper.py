"""The import sweeper: no import stays "queued" or "running" after its runner is gone.

- queued, never handed to the broker (it was down when the mapping was saved), or handed
  long ago and still not started (the message was lost): dispatched again;
- running with a stale heartbeat (its process died: a killed Celery worker, a gunicorn worker
  timed out mid eager run, a reboot): dispatched again, and the runner that picks it up resumes
  after the last committed chunk (contacts.importing.lease decides who may run it).

Celery beat runs it every minute (config/settings.py) and ops can run it by hand, also with
the broker still down: `manage.py sweep_imports --in-process` runs the jobs right there.
Dispatching twice is harmless: a second runner finds the job leased and leaves it alone.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from accounts import uploads
from contacts.importing import dispatch, lease
from contacts.models import ImportJob

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    queued: int = 0  # queued jobs handed to the broker (or run) again
    resumed: int = 0  # jobs of dead runners handed on (or run) again
    broker_down: int = 0  # of those, how many the broker still refused
    stale_spools: int = 0  # leftover sealed upload files deleted (accounts.uploads)

    def as_dict(self) -> dict:
        return asdict(self)


def due_jobs(now: datetime.datetime | None = None) -> tuple[list[ImportJob], list[ImportJob]]:
    """(queued jobs to dispatch, running jobs whose runner died), oldest first."""
    now = now or timezone.now()
    redispatch = now - datetime.timedelta(seconds=settings.CONTACT_IMPORT_REDISPATCH_SECONDS)
    not_recently_dispatched = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=redispatch)
    with scopes_disabled():  # ops sweep across every organisation's jobs (ids and states only)
        queued = list(ImportJob.objects.filter(not_recently_dispatched, status=ImportJob.Status.QUEUED)
                      .order_by("queued_at", "pk"))
        stale = lease.stale_before(now)
        dead = list(ImportJob.objects.filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True),
            Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale),
            status=ImportJob.Status.RUNNING).order_by("heartbeat_at", "pk"))
    return queued, dead


def sweep(*, in_process: bool = False) -> SweepResult:
    """Dispatch (or, `in_process`, run here one after another) every job that needs a runner."""
    from contacts.importing.runner import run_import

    result = SweepResult()
    queued, dead = due_jobs()
    for jobs, counter in ((queued, "queued"), (dead, "resumed")):
        for job in jobs:
            setattr(result, counter, getattr(result, counter) + 1)
            if in_process:
                with scopes_disabled():  # ops: the job's own organisation, looked up by id
                    organization = job.organization
                with scope(organization=organization):
                    run_import(job)
            elif not dispatch.dispatch(job):
                result.broker_down += 1
    # Sealed upload spools of web processes that died mid-upload (ciphertext, its key gone).
    result.stale_spools = uploads.remove_stale_spools()
    if result.queued or result.resumed or result.stale_spools:
        logger.info("import sweep: %s", result.as_dict())
    return result
