"""Running one import job end to end: count, stream, normalise, write in batches, report.

Each batch commits together with the job's counters, so progress is exact and a re-delivered
task (acks_late) resumes after the last committed batch instead of starting over.
"""

from __future__ import annotations

import csv
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit import AuditAction
from contacts import custom_fields
from contacts.importing import reading, storage
from contacts.importing.normalising import CleanRow, Issue, RowNormaliser
from contacts.importing.writing import BatchWriter
from contacts.models import ImportJob

logger = logging.getLogger(__name__)
BATCH_ROWS = 2000
_COUNTERS = ["processed_rows", "created_count", "updated_count", "skipped_count", "failed_count",
             "blank_rows", "error_lines"]


def kind_of(job: ImportJob) -> reading.FileKind:
    return reading.FileKind(job.file_format, job.encoding, job.delimiter)


def count_data_rows(job: ImportJob) -> int:
    """Rows below the header (blank ones included), without converting cells."""
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as rows:
        return max(0, sum(1 for _ in rows) - 1)


class _ErrorFile:
    """The downloadable list of rows not imported: row number, result, column, reason. No values."""

    def __init__(self, job: ImportJob):
        path = storage.errors_path(job.organization_id, job.uuid)
        new = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._file = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(["row", "result", "column", "reason"])

    def write(self, issues: list[Issue]) -> int:
        issues.sort(key=lambda i: i.row)
        self._writer.writerows([(i.row, i.result, i.column, i.reason) for i in issues])
        return len(issues)

    def close(self) -> None:
        self._file.close()


def run_import(job: ImportJob) -> ImportJob:
    """Import the job's stored file. Never raises for a person's mistake: the job says what went wrong."""
    if job.is_finished:
        return job
    job.status = ImportJob.Status.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    errors = None
    try:
        if job.total_rows is None:
            total = count_data_rows(job)
            limit = settings.CONTACT_IMPORT_MAX_ROWS
            if total > limit:
                raise reading.FileProblem(
                    f"The file has {total:,} rows; at most {limit:,} can be imported at once. "
                    "Split it into smaller files and import each one."
                )
            job.total_rows = total
            job.save(update_fields=["total_rows"])
        errors = _ErrorFile(job)
        _import_rows(job, errors)
        _finish(job, ImportJob.Status.DONE)
    except reading.FileProblem as problem:
        _finish(job, ImportJob.Status.FAILED, str(problem))
    except Exception as exc:
        # Log the type only: exception text from parsers or the database may quote cell values.
        logger.error("contact import %s stopped: %s", job.pk, type(exc).__name__)
        _finish(job, ImportJob.Status.FAILED,
                f"The import stopped unexpectedly after {job.processed_rows:,} rows; those rows were "
                "saved. Upload the file again to import the rest (existing contacts are recognised by "
                "phone), or contact support if it happens again.")
    finally:
        if errors is not None:
            errors.close()
    return job


def _import_rows(job: ImportJob, errors: _ErrorFile) -> None:
    normalise = RowNormaliser(organization_id=job.organization_id, region=job.default_region,
                              headers=job.headers or [], mapping=job.mapping,
                              defs=custom_fields.definitions())
    writer = BatchWriter(organization_id=job.organization_id, on_existing=job.on_existing)
    already = job.processed_rows  # resume after the last committed batch
    batch: list[CleanRow] = []
    issues: list[Issue] = []
    pending = {"processed_rows": 0, "failed_count": 0, "blank_rows": 0}
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as rows:
        next(rows, None)  # the header row
        for offset, cells in enumerate(rows):
            if offset < already:
                continue
            pending["processed_rows"] += 1
            if reading.is_blank(cells):
                pending["blank_rows"] += 1
                continue
            result = normalise(offset + 2, cells)  # spreadsheet row numbers: the header is row 1
            if isinstance(result, list):
                issues += result
                pending["failed_count"] += 1
            else:
                batch.append(result)
            if len(batch) >= BATCH_ROWS or pending["processed_rows"] >= BATCH_ROWS * 2:
                _commit(job, writer, batch, issues, pending, errors)
                batch, issues = [], []
                pending = dict.fromkeys(pending, 0)
    _commit(job, writer, batch, issues, pending, errors)


def _commit(job: ImportJob, writer: BatchWriter, batch: list[CleanRow], issues: list[Issue],
            pending: dict[str, int], errors: _ErrorFile) -> None:
    with transaction.atomic():
        outcome = writer.write(batch)
        job.created_count += outcome.created
        job.updated_count += outcome.updated
        job.skipped_count += outcome.skipped
        for name, value in pending.items():
            setattr(job, name, getattr(job, name) + value)
        job.error_lines += errors.write(issues + outcome.issues)
        job.consent_changes = getattr(job, "consent_changes", 0) + outcome.consent_changes
        job.save(update_fields=_COUNTERS)


@transaction.atomic
def _finish(job: ImportJob, status: str, reason: str = "") -> None:
    job.status = status
    job.failure_reason = reason
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "failure_reason", "finished_at"])
    storage.delete_upload(job.organization_id, job.uuid)
    audit.record(AuditAction.CONTACTS_IMPORTED, target=job, actor=job.created_by, detail={
        "status": status, "rows": job.processed_rows, "created": job.created_count,
        "updated": job.updated_count, "skipped": job.skipped_count, "failed": job.failed_count,
        "consent_changes": getattr(job, "consent_changes", 0), "file_format": job.file_format,
    })
