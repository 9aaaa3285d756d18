"""The import wizard's operations: upload → preview → configure → run → error file.

Views, the Celery task and the benchmark call these; roles are checked here too (defence in
depth: a view that forgets still cannot import or read an error file).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

import audit
from accounts.actor import Actor
from accounts.models import Organization
from accounts.roles import Perm, require
from audit import AuditAction
from contacts import custom_fields
from contacts.importing import mapping as mapping_mod
from contacts.importing import reading, storage
from contacts.importing.runner import kind_of, run_import
from contacts.models import CustomField, ImportJob

FileProblem = reading.FileProblem
PREVIEW_ROWS = 5
MAX_COLUMNS = 200


def _human_size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} KB"


@transaction.atomic
def upload_file(*, organization: Organization, membership, name: str, size: int,
                chunks: Iterable[bytes], actor=None) -> ImportJob:
    """Store an upload (encrypted) and read its header. Raises FileProblem with what to do next."""
    require(membership, Perm.CONTACTS_IMPORT)
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
        organization=organization, created_by=actor, original_name=name[-255:],
        file_format=kind.file_format, encoding=kind.encoding, delimiter=kind.delimiter,
        default_region=organization.default_region,
    )
    job.size_bytes = storage.store_upload(organization_id=organization.pk, job_uuid=job.uuid,
                                          chunks=itertools.chain([head], chunks))
    try:
        headers, _ = preview(job, rows=0)
    except FileProblem:
        storage.delete_upload(organization.pk, job.uuid)
        raise
    job.headers = headers
    job.mapping = mapping_mod.guess(organization.pk, headers,
                                    custom_fields.definitions(actor=Actor.member(membership)))
    job.save(update_fields=["size_bytes", "headers", "mapping"])
    return job


def preview(job: ImportJob, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The header and the first non-blank rows, for the person who uploaded the file to check."""
    with reading.open_rows(job.organization_id, job.uuid, kind_of(job)) as stream:
        header = None
        for cells in stream:
            if not reading.is_blank(cells):
                header = [c.strip() for c in cells]
                break
        if header is None:
            raise FileProblem("The file has no rows at all. Check you exported the right sheet, "
                              "then upload it again.")
        if len(header) > MAX_COLUMNS:
            raise FileProblem(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are supported. "
                              "Delete the columns you do not need and upload it again.")
        sample = [cells for cells in itertools.islice((c for c in stream if not reading.is_blank(c)), rows)]
    # Header names are how people recognise columns; unnamed ones get a position instead.
    header = [h or f"Column {i + 1}" for i, h in enumerate(header)]
    return header, [(r + [""] * len(header))[:len(header)] for r in sample]


def configure(*, job: ImportJob, membership, mapping: list[str], default_region: str, on_existing: str,
              actor=None) -> list[str]:
    """Save the person's choices (creating new custom fields), remember the mapping, queue the run.

    Returns the problems that stop it (the job stays editable); an empty list means queued.
    """
    require(membership, Perm.CONTACTS_IMPORT)
    if job.status != ImportJob.Status.UPLOADED:
        return ["This import has already started — open its progress page instead."]
    defs = custom_fields.definitions(actor=Actor.member(membership))
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
                    organization=job.organization, label=job.headers[i], field_type=target[4:],
                    actor=Actor.member(membership))
                defs[field.key] = field
                final[i] = f"custom:{field.key}"
        mapping_mod.remember(job.organization, job.headers, final)
        job.mapping = final
        job.default_region = region
        job.on_existing = on_existing
        job.status = ImportJob.Status.QUEUED
        job.save(update_fields=["mapping", "default_region", "on_existing", "status"])
    # Outside the transaction: a worker must find the job committed. Eager mode runs it here.
    from contacts.tasks import run_contact_import

    run_contact_import.delay(org_id=job.organization_id, job_id=job.pk)
    return []


def run(job: ImportJob) -> ImportJob:
    """Run the import now, in this process (the Celery task and the benchmark call this)."""
    return run_import(job)


def error_file(*, job: ImportJob, membership, actor=None) -> Path:
    """The job's error file (row numbers and reasons only), audited as a download."""
    require(membership, Perm.CONTACTS_IMPORT)
    path = storage.errors_path(job.organization_id, job.uuid)
    if not path.exists():
        raise FileNotFoundError("This import has no error file.")
    audit.record(AuditAction.EXPORT_DOWNLOADED, target=job, actor=actor,
                 detail={"kind": "contact_import_errors", "lines": job.error_lines})
    return path


def mapping_choices(*, actor: Actor) -> list[tuple[str, str]]:
    return mapping_mod.choices(custom_fields.definitions(actor=actor))


def custom_field_types() -> list[str]:
    return list(CustomField.Type.values)
