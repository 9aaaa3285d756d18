"""Contacts' background work. Tasks take ids only — never a file, a row or any PHI."""

from __future__ import annotations

from celery import shared_task

from accounts.tenancy import OrgTask


@shared_task(base=OrgTask, name="contacts.run_contact_import")
def run_contact_import(*, org_id: int, job_id: int) -> None:
    """Run one queued import job of organisation `org_id` (idempotent: a finished job, or one
    another runner is alive on, is left alone; a dead runner's job resumes from its last chunk)."""
    from contacts.importing.runner import run_import
    from contacts.models import ImportJob

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        run_import(job)


@shared_task(name="contacts.sweep_contact_imports")
def sweep_contact_imports() -> dict:
    """Celery beat, every minute: dispatch imports left queued (broker was down) and resume those
    whose runner died (stale heartbeat). Counts only in the result."""
    from contacts.importing.sweeper import sweep

    return sweep().as_dict()
