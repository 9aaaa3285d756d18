"""Handing an import job to the background service (Celery), or leaving it for the sweeper.

The broker (Redis) may be unreachable: the job is then left queued with no `dispatched_at`,
the person is told it will start by itself, and contacts.importing.sweeper dispatches it again
once the broker answers. Nothing here raises for a broker outage.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from django.utils import timezone
from django_scopes import scope

from contacts.models import ImportJob

logger = logging.getLogger(__name__)


def broker_errors() -> tuple[type[BaseException], ...]:
    """What publishing a task raises when the broker cannot be reached."""
    from kombu.exceptions import OperationalError

    errors: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, OSError, TimeoutError)
    try:
        import redis

        errors += (redis.RedisError,)
    except ImportError:  # pragma: no cover - redis is a runtime requirement
        pass
    return errors


@contextlib.contextmanager
def _jobs(job: ImportJob):
    with scope(organization=job.organization_id):
        yield ImportJob.objects.filter(pk=job.pk)


def dispatch(job: ImportJob) -> bool:
    """Queue the run of `job` (eager mode: run it now). False when the broker is unreachable."""
    from contacts.tasks import run_contact_import

    # The job's own scope: the wizard calls this inside it, the sweeper (ops, every organisation) not.
    jobs = functools.partial(_jobs, job)
    # Stamped first: in eager mode the task runs (and finishes) inside delay().
    with jobs() as qs:
        qs.update(dispatched_at=timezone.now())
    try:
        run_contact_import.delay(org_id=job.organization_id, job_id=job.pk)
    except broker_errors() as exc:
        with jobs() as qs:
            unstarted = [ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
            qs.filter(status__in=unstarted).update(dispatched_at=None)
        # The type only: a broker error's text may carry the broker URL (with its password).
        logger.warning("contact import %s: broker unreachable (%s); left for the import sweeper",
                       job.pk, type(exc).__name__)
        return False
    return True
