"""Running one import job end to end: count, stream, prepare, write in batches, report.

Rows are read here and prepared (normalised, blind-indexed, encrypted) in chunks, by forked
worker processes on big files; results come back in file order and are written here, by the
one process that holds the database connection. Each chunk commits together with the job's
counters, so progress is exact and a re-delivered task (acks_late) resumes after the last
committed chunk instead of starting over.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import audit
from accounts import blind_index, crypto
from accounts.actor import Actor
from audit import AuditAction
from contacts import custom_fields
from contacts.exporting import neutralise
from contacts.importing import lease, reading, storage, workers
from contacts.importing.normalising import Issue, RowNormaliser
from contacts.importing.preparing import ChunkPreparer, PreparedChunk, RowChunk
from contacts.importing.writing import BatchWriter
from contacts.models import ImportJob

logger = logging.getLogger(__name__)
BATCH_ROWS = 2000  # rows per chunk; a chunk's rows commit together with the job's counters
PARALLEL_MIN_ROWS = 20_000  # below this, starting workers costs more than it saves
_COUNTERS = ["processed_rows", "created_count", "updated_count", "skipped_count", "over_cap_count",
             "failed_count", "blank_rows", "error_lines"]


def kind_of(job: ImportJob) -> reading.FileKind:
    return reading.FileKind(job.file_format, job.encoding, job.delimiter)


def count_data_rows(job: ImportJob, beat=lambda: None) -> int:
    """Rows below the header (blank ones included), without converting cells."""
    total = 0
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as rows:
        for total, _ in enumerate(rows, start=1):
            if not total % 10_000:
                beat()
    return max(0, total - job.header_rows)


class _ErrorFile:
    """The downloadable list of rows not imported: row number, result, column, reason. No values.

    Lines reach the disk before their chunk commits; a resumed job first drops the lines of a
    chunk that never committed, so the file always holds exactly the committed `error_lines`.
    """

    HEADER = ["row", "result", "column", "reason"]

    def __init__(self, job: ImportJob):
        path = storage.errors_path(job.organization_id, job.uuid)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists():
            self._keep_committed(path, job.error_lines)
        new = not path.exists()
        self._file = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(self.HEADER)

    @classmethod
    def _keep_committed(cls, path, lines: int) -> None:
        with open(path, encoding="utf-8", newline="") as f:
            kept = list(itertools.islice(csv.reader(f), lines + 1))  # the header and committed lines
        partial = path.with_suffix(".partial")
        with open(partial, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(kept or [cls.HEADER])
        os.replace(partial, path)

    def write(self, issues: list[Issue]) -> int:
        issues.sort(key=lambda i: i.row)
        # The column is the file's own header text: a header like "=HYPERLINK(…)" must not come back
        # as a live formula in the spreadsheet staff open the error file in.
        self._writer.writerows([(i.row, i.result, neutralise(i.column), neutralise(i.reason))
                                for i in issues])
        self._file.flush()  # before the chunk commits: a committed count never outruns the file
        os.fsync(self._file.fileno())
        return len(issues)

    def close(self) -> None:
        self._file.close()


def run_import(job: ImportJob) -> ImportJob:
    """Import the job's stored file. Never raises for a person's mistake: the job says what went wrong.

    The job is claimed first (contacts.importing.lease): a finished job, or one another runner
    is alive on, is left alone; a job whose runner died continues after its last committed chunk.
    """
    if job.is_finished:
        return job
    claimed = lease.claim(job)
    if claimed is None:
        return job
    _token, resumed = claimed
    if resumed:
        logger.warning("contact import %s: its runner stopped beating; resuming after row %s",
                       job.pk, job.processed_rows)
        audit.record(AuditAction.CONTACTS_IMPORT_RESUMED, target=job,
                     actor=Actor.system("contact-import", organization_id=job.organization_id),
                     detail={"processed_rows": job.processed_rows, "resumed_count": job.resumed_count})
    heartbeat = lease.Heartbeat(job)
    errors = None
    try:
        if job.total_rows is None:
            total = count_data_rows(job, heartbeat)
            limit = settings.CONTACT_IMPORT_MAX_ROWS
            if total > limit:
                raise reading.FileProblem(
                    f"The file has {total:,} rows; at most {limit:,} can be imported at once. "
                    "Split it into smaller files and import each one."
                )
            job.total_rows = total
            _save_leased(job, ["total_rows"])
        errors = _ErrorFile(job)
        with _heap_frozen():
            try:
                _import_rows(job, errors, heartbeat)
            except workers.WorkerStopped:
                # A worker was killed (out of memory, a signal): every committed chunk stands, the
                # job's counters are the committed ones; the rest is prepared in this process.
                logger.warning("contact import %s: an import worker stopped; continuing in-process", job.pk)
                _import_rows(job, errors, heartbeat, parallel=False)
        _finish(job, ImportJob.Status.DONE)
    except lease.LeaseLost:
        # This runner stalled past its lease and another one took the job over: it owns the job
        # (and its error file) now; this one leaves without writing anything more.
        logger.warning("contact import %s: taken over by another runner; this one stops", job.pk)
        job.refresh_from_db()
    except reading.FileProblem as problem:
        _finish_unless_taken_over(job, ImportJob.Status.FAILED, str(problem))
    except Exception as exc:
        # Log the type only: exception text from parsers or the database may quote cell values.
        # (A WorkerFailed's text is the type of what failed in the worker, never its message.)
        what = str(exc) if isinstance(exc, workers.WorkerFailed) else type(exc).__name__
        logger.error("contact import %s stopped: %s", job.pk, what)
        _finish_unless_taken_over(job, ImportJob.Status.FAILED,
                f"The import stopped unexpectedly after {job.processed_rows:,} rows; those rows were "
                "saved. Upload the file again to import the rest (existing contacts are recognised by "
                "phone), or contact support if it happens again.")
    finally:
        if errors is not None:
            errors.close()
    return job


def _save_leased(job: ImportJob, fields: list[str]) -> None:
    """Save `fields` of the job and renew its heartbeat, only while this runner holds its lease.

    The UPDATE also row-locks the job until the surrounding transaction ends, so no other runner
    can claim it in between (the error file's lines are written under that lock)."""
    job.heartbeat_at = timezone.now()
    saved = ImportJob.objects.filter(pk=job.pk, runner_token=job.runner_token).update(
        heartbeat_at=job.heartbeat_at, **{f: getattr(job, f) for f in fields})
    if not saved:
        raise lease.LeaseLost


def _import_rows(job: ImportJob, errors: _ErrorFile, heartbeat: lease.Heartbeat, *,
                 parallel: bool = True) -> None:
    normaliser = RowNormaliser(region=job.default_region, headers=job.headers or [], mapping=job.mapping,
                               defs=custom_fields.definitions(
                                   actor=Actor.system("contact-import", organization_id=job.organization_id)))
    prepare = ChunkPreparer(normaliser)
    writer = BatchWriter(organization_id=job.organization_id, on_existing=job.on_existing)
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as rows:
        chunks = _chunks(job, rows)
        # None: prepare chunks in this process.
        pool = workers.start(prepare, _worker_count(job)) if parallel else None
        logger.info("contact import %s: %s", job.pk, f"{len(pool)} workers" if pool else "in-process")
        with pool or contextlib.nullcontext():
            for prepared in (pool.map(chunks) if pool else map(prepare, chunks)):
                if prepared.replay:
                    writer.remember(prepared.clean)
                    heartbeat()
                else:
                    _commit(job, writer, prepared, errors)


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep the garbage collector from walking this process's long-lived objects again and again
    while rows stream through (measured: ~6 µs a row of full collections). Unfrozen afterwards,
    so nothing is kept alive for longer than the import (nothing else here freezes the heap)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _worker_count(job: ImportJob) -> int:
    """Processes to prepare rows in: none for small files, on SQLite (the embedded default; its
    imports are small) or on a single CPU, where a worker would only take turns with this process."""
    if connection.vendor != "postgresql" or (job.total_rows or 0) < PARALLEL_MIN_ROWS:
        return 0
    cpus = _usable_cpus()
    # settings.CONTACT_IMPORT_WORKERS (2): two keep this process, which reads the file and writes
    # to the database, busy; more only queue up behind it, and Celery runs a process per CPU.
    return min(cpus, settings.CONTACT_IMPORT_WORKERS) if cpus > 1 else 0


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


def _chunks(job: ImportJob, rows) -> Iterator[RowChunk]:
    """The file's rows, BATCH_ROWS at a time, each chunk with the organisation's current keys.

    Keys are looked up here, in the process that owns the database connection, chunk by chunk,
    so a rotated key is picked up as soon as it would be without workers. When a re-delivered
    task resumes, the rows already committed come first as replay chunks: only their phones are
    wanted again (a later row repeating one is a duplicate, as in an uninterrupted run).
    """
    for _ in range(job.header_rows):  # the header row, and blank rows above it
        next(rows, None)
    org = job.organization_id
    done = job.processed_rows
    read = 0
    while True:
        replay = read < done
        batch = list(itertools.islice(rows, min(BATCH_ROWS, done - read) if replay else BATCH_ROWS))
        if not batch:
            return
        # Spreadsheet row numbers: the file's first row is row 1.
        first_row = read + job.header_rows + 1
        yield RowChunk(first_row, batch, crypto.sealer_for(org), blind_index.indexer_for(org), replay)
        read += len(batch)


def _commit(job: ImportJob, writer: BatchWriter, prepared: PreparedChunk, errors: _ErrorFile) -> None:
    before = {f: getattr(job, f) for f in _COUNTERS}
    try:
        with transaction.atomic():
            outcome = writer.write(prepared.clean)
            issues = prepared.issues + outcome.issues
            job.processed_rows += prepared.processed
            job.blank_rows += prepared.blank
            job.failed_count += prepared.failed
            job.created_count += outcome.created
            job.updated_count += outcome.updated
            job.skipped_count += outcome.skipped
            job.over_cap_count += outcome.over_cap
            job.error_lines += len(issues)
            _save_leased(job, _COUNTERS)  # refused (LeaseLost) if another runner took the job over
            errors.write(issues)  # on disk before the commit: a committed count never outruns the file
    except BaseException:
        for name, value in before.items():  # the chunk rolled back: so do the counters in memory
            setattr(job, name, value)
        raise
    job.consent_changes = getattr(job, "consent_changes", 0) + outcome.consent_changes


def _finish_unless_taken_over(job: ImportJob, status: str, reason: str) -> None:
    try:
        _finish(job, status, reason)
    except lease.LeaseLost:
        logger.warning("contact import %s: taken over by another runner; this one stops", job.pk)
        job.refresh_from_db()


@transaction.atomic
def _finish(job: ImportJob, status: str, reason: str = "") -> None:
    job.status = status
    job.failure_reason = reason
    job.finished_at = timezone.now()
    _save_leased(job, ["status", "failure_reason", "finished_at"])
    storage.delete_upload(job.organization_id, job.uuid)
    audit.record(AuditAction.CONTACTS_IMPORTED, target=job, actor=_starter(job), detail={
        "status": status, "rows": job.processed_rows, "created": job.created_count,
        "updated": job.updated_count, "skipped": job.skipped_count, "failed": job.failed_count,
        "consent_changes": getattr(job, "consent_changes", 0), "file_format": job.file_format,
    })


def _starter(job: ImportJob):
    """Who started the import, for its closing audit event: the member, or the partner API key
    (by its prefix; no permissions, it only names), or None (the request's actor, if any)."""
    if job.created_by_id:
        return job.created_by
    if job.created_by_key:
        return Actor.api_key(key_id=job.created_by_key, organization_id=job.organization_id, permissions=())
    return None
