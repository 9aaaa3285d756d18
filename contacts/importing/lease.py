"""Who runs an import job right now: a lease kept alive by a heartbeat.

A runner claims a job (queued, or running with a stale heartbeat: its runner died) with one
atomic UPDATE that gives it a fresh token; every chunk's commit renews the heartbeat under that
token, in the chunk's own transaction. A runner whose token was taken over (it stalled past the
lease) finds its commit refused and stops without touching the job: at most one runner writes.
"""

from __future__ import annotations

import datetime
import time
import uuid

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import ImportJob


class LeaseLost(Exception):
    """Another runner took this job over (this one had stalled past its lease)."""


def lease_seconds() -> int:
    return settings.CONTACT_IMPORT_LEASE_SECONDS


def stale_before(now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) - datetime.timedelta(seconds=lease_seconds())


def claim(job: ImportJob) -> tuple[str, bool] | None:
    """Take `job` for this process: (token, resumed) or None when it is finished or another
    runner holds a live lease. `resumed`: a dead runner's job, continued from its last commit."""
    token = uuid.uuid4().hex
    now = timezone.now()
    jobs = ImportJob.objects.filter(pk=job.pk)
    taken = jobs.filter(status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, runner_token=token, heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now))
    resumed = False
    if not taken:
        taken = jobs.filter(Q(heartbeat_at__lt=stale_before(now)) | Q(heartbeat_at__isnull=True),
                            status=ImportJob.Status.RUNNING).update(
            runner_token=token, heartbeat_at=now, resumed_count=F("resumed_count") + 1)
        resumed = bool(taken)
    job.refresh_from_db()
    return (token, resumed) if taken else None


class Heartbeat:
    """Renews the lease at most every few seconds from long steps that commit nothing (counting
    rows, replaying committed ones); chunk commits renew it themselves (runner._commit)."""

    EVERY = 10.0

    def __init__(self, job: ImportJob):
        self.job = job
        self._last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self._last < self.EVERY:
            return
        self.beat()

    def beat(self) -> None:
        renewed = ImportJob.objects.filter(pk=self.job.pk, runner_token=self.job.runner_token).update(
            heartbeat_at=timezone.now())
        if not renewed:
            raise LeaseLost
        self._last = time.monotonic()
