"""The import wizard's operations: upload → preview → configure (queue) → error file.

Every operation takes the door's `actor` (accounts.actor.Actor) and checks CONTACTS_IMPORT and
the organisation itself, so a view, the API or a job that forgets still cannot import or read
an error file. The run itself is contacts.importing.runner, started by the Celery task (or by
the sweeper, contacts.importing.sweeper, when the broker was down or a runner died).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from accounts.streaming import stream_in_scope
from audit import AuditAction
from contacts import custom_fields
from contacts.importing import dispatch, reading, storage
from contacts.importing import mapping as mapping_mod
from contacts.importing.runner import kind_of
from contacts.models import ImportJob

logger = logging.getLogger(__name__)
FileProblem = reading.FileProblem
PREVIEW_ROWS = 5
MAX_COLUMNS = 200
# Said when the mapping is saved but the background service cannot take the job right now.
BROKER_DOWN_NOTICE = ("Your import is saved and queued, but the background service is not reachable "
                      "right now. It will start by itself as soon as the service is back — you can leave "
                      "this page; its progress shows here and on the import page.")


def _human_size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} KB"


@transaction.atomic
def upload_file(*, actor: Actor, name: str, size: int, chunks: Iterable[bytes]) -> ImportJob:
    """Store an upload (encrypted) and read its header. Raises FileProblem with what to do next.

    `chunks` may be plaintext blocks, or an already encrypted upload (contacts.uploads) whose
    chunks are decrypted as they are read.
    """
    from accounts.models import Organization

    actor.require(Perm.CONTACTS_IMPORT)
    organization = Organization.objects.get(pk=actor.organization_id)
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if size > limit:
        raise FileProblem(f"The file is {_human_size(size)}; the limit is {_human_size(limit)}. "
                          "Split it into smaller files and import each one.")
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:  # enough bytes to recognise the format and encoding
        head += chunk
        if len(head) >= reading.SNIFF_BYTES:
            break
    kind = reading.detect(head[:reading.SNIFF_BYTES], name)
    job = ImportJob.objects.create(
        organization=organization, created_by_id=actor.user_id, created_by_key=actor.api_key_id,
        original_name=name[-255:], file_format=kind.file_format, encoding=kind.encoding,
        delimiter=kind.delimiter, default_region=organization.default_region,
    )
    job.size_bytes = storage.store_upload(organization_id=organization.pk, job_uuid=job.uuid,
                                          chunks=itertools.chain([head], chunks))
    try:
        _read_header(job, actor=actor, first_row_is_data=None)
    except FileProblem:
        storage.delete_upload(organization.pk, job.uuid)
        raise
    job.save(update_fields=["size_bytes", "headers", "mapping", "header_rows", "has_header"])
    return job


def _first_rows(job: ImportJob, rows: int) -> tuple[int, list[str], list[list[str]]]:
    """(blank rows above the first non-blank one, that row, the next `rows` non-blank rows)."""
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as stream:
        leading = 0
        first = None
        for cells in stream:
            if not reading.is_blank(cells):
                first = [c.strip() for c in cells]
                break
            leading += 1
        if first is None:
            raise FileProblem("The file has no rows at all. Check you exported the right sheet, "
                              "then upload it again.")
        if len(first) > MAX_COLUMNS:
            raise FileProblem(f"The file has {len(first)} columns; at most {MAX_COLUMNS} are supported. "
                              "Delete the columns you do not need and upload it again.")
        sample = list(itertools.islice((c for c in stream if not reading.is_blank(c)), rows))
    return leading, first, sample


def _read_header(job: ImportJob, *, actor: Actor, first_row_is_data: bool | None) -> None:
    """Set the job's header (or "Column 1…N"), where its data starts, and a guessed mapping.

    `first_row_is_data` None: decide from the first row (contacts.importing.mapping.is_header_row).
    """
    leading, first, sample = _first_rows(job, PREVIEW_ROWS)
    defs = custom_fields.definitions(actor=actor)
    if first_row_is_data is None:
        first_row_is_data = not mapping_mod.is_header_row(first, defs)
    if first_row_is_data:
        width = max([len(first)] + [len(r) for r in sample])
        job.headers = mapping_mod.column_names(min(width, MAX_COLUMNS))
        job.header_rows, job.has_header = leading, False
        job.mapping = mapping_mod.guess_from_values([first, *sample], len(job.headers), job.default_region)
    else:
        # Header names are how people recognise columns; unnamed ones get a position instead.
        job.headers = [h or f"Column {i + 1}" for i, h in enumerate(first)]
        job.header_rows, job.has_header = leading + 1, True
        job.mapping = mapping_mod.guess(job.organization_id, job.headers, defs)


def preview(job: ImportJob, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The column names and the first non-blank data rows, for the person who uploaded the file."""
    _, first, sample = _first_rows(job, rows)
    if not job.has_header:
        sample = [first, *sample][:rows]
    header = job.headers or []
    return header, [(r + [""] * len(header))[:len(header)] for r in sample]


def set_first_row(*, actor: Actor, job: ImportJob, is_data: bool) -> None:
    """The person says whether the file's first row is data or names the columns; the column
    names and the guessed mapping are worked out again."""
    actor.require(Perm.CONTACTS_IMPORT, job)
    if job.status != ImportJob.Status.UPLOADED or job.has_header is (not is_data):
        return
    _read_header(job, actor=actor, first_row_is_data=is_data)
    job.save(update_fields=["headers", "mapping", "header_rows", "has_header"])


def _field_label(job: ImportJob, index: int) -> str:
    """A new custom field's label (its key is made from it): the column's header, unless the file
    has none or that header reads like a value — a key never comes from a patient's data."""
    header = job.headers[index] if index < len(job.headers or []) else ""
    if not job.has_header or not header.strip() or mapping_mod.looks_like_data(header):
        return f"Column {index + 1}"
    return header


def configure(*, actor: Actor, job: ImportJob, mapping: list[str], default_region: str,
              on_existing: str) -> list[str]:
    """Save the person's choices (creating new custom fields), remember the mapping, queue the run.

    Returns the problems that stop it (the job stays editable); an empty list means queued —
    `queued_notice(job)` then says whether the background service took it yet.
    """
    actor.require(Perm.CONTACTS_IMPORT, job)
    if job.status != ImportJob.Status.UPLOADED:
        return ["This import has already started — open its progress page instead."]
    defs = custom_fields.definitions(actor=actor)
    problems = mapping_mod.validate(mapping, defs, len(job.headers or []))
    if on_existing not in ImportJob.OnExisting.values:
        problems.append("Choose whether existing contacts should be updated or skipped.")
    region = (default_region or "").upper()
    if len(region) != 2 or not region.isalpha():
        problems.append("Choose the country used for phone numbers written without a country code.")
    if problems:
        return problems
    with transaction.atomic():
        final = list(mapping)
        for i, target in enumerate(mapping):
            if target.startswith("new:"):
                field = custom_fields.define_custom_field(
                    organization=job.organization, label=_field_label(job, i), field_type=target[4:],
                    actor=actor)
                defs[field.key] = field
                final[i] = f"custom:{field.key}"
        if job.has_header:  # "Column 3" says nothing about the next file's third column
            mapping_mod.remember(job.organization, job.headers, final)
        job.mapping = final
        job.default_region = region
        job.on_existing = on_existing
        job.status = ImportJob.Status.QUEUED
        job.queued_at = timezone.now()
        job.save(update_fields=["mapping", "default_region", "on_existing", "status", "queued_at"])
    # Outside the transaction: a worker must find the job committed. Eager mode runs it here.
    # With the broker down the job stays queued and the sweeper dispatches it when it is back.
    dispatch.dispatch(job)
    return []


def queued_notice(job: ImportJob) -> str:
    """What to tell the person once their job is queued: empty, or that the background service
    could not take it yet (it starts by itself later)."""
    job.refresh_from_db(fields=["status", "dispatched_at"])
    if job.status == ImportJob.Status.QUEUED and job.dispatched_at is None:
        return BROKER_DOWN_NOTICE
    return ""


def error_file(*, actor: Actor, job: ImportJob) -> Iterator[bytes]:
    """The job's error file (row numbers and reasons only), streamed; audited as a download
    (EXPORT_DOWNLOADED) once its last byte went out. FileNotFoundError when there is none."""
    actor.require(Perm.CONTACTS_IMPORT, job)
    path = storage.errors_path(job.organization_id, job.uuid)
    handle = path.open("rb")  # FileNotFoundError: every row was imported
    lines = job.error_lines

    def chunks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(1 << 16):
                yield block

    def downloaded(_chunks: int) -> None:
        audit.record(AuditAction.EXPORT_DOWNLOADED, target=job, actor=actor,
                     detail={"kind": "contact_import_errors", "lines": lines})

    return stream_in_scope(chunks(), organization=job.organization_id, on_complete=downloaded)


def mapping_choices(*, actor: Actor) -> list[tuple[str, str]]:
    return mapping_mod.choices(custom_fields.definitions(actor=actor))
