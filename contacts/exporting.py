"""Contacts export to CSV and XLSX: owners/admins by default (CONTACTS_EXPORT), audited with the count.

Spreadsheet formula injection: a cell starting with = + - @ tab or carriage return is run as a
formula by Excel/LibreOffice/Sheets. Such cells are prefixed with an apostrophe ('), the
OWASP-recommended neutralisation. E.164 phones begin with "+", so in CSV they are neutralised
too (`'+14155550142`): spreadsheets show them as text, and our importer strips the apostrophe
on the way back in. In XLSX every cell is written as a typed string (never a formula), so the
phone column stays exactly E.164; other text is still neutralised in case it is re-saved as CSV.
The workbook is streamed by contacts.xlsx_stream (openpyxl would spool the sheet to a temporary file).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import QuerySet

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from accounts.streaming import stream_in_scope
from audit import AuditAction
from contacts import selectors
from contacts.models import Contact, CustomField
from contacts.xlsx_stream import stream_workbook

STANDARD_COLUMNS: dict[str, str] = {
    "first_name": "First name", "last_name": "Last name", "phone": "Phone", "email": "E-mail",
    "date_of_birth": "Date of birth", "preferred_channel": "Preferred channel", "language": "Language",
    "timezone": "Time zone", "sms_opted_in": "SMS consent", "whatsapp_opted_in": "WhatsApp consent",
    "tags": "Tags", "origin": "Origin", "created_at": "Added",
}
DEFAULT_COLUMNS = ("first_name", "last_name", "phone", "email", "date_of_birth", "tags")
FORMATS = ("csv", "xlsx")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_BATCH = 2000


def neutralise(value: str) -> str:
    """Prefix formula-looking text with an apostrophe so spreadsheets show it instead of running it."""
    return "'" + value if value.startswith(_DANGEROUS) else value


def available_columns(custom_fields: list[CustomField]) -> list[tuple[str, str]]:
    return list(STANDARD_COLUMNS.items()) + [(f"custom:{f.key}", f.label) for f in custom_fields]


def _cell(contact: Contact, column: str, tags: dict[int, list[str]]) -> str:
    if column == "tags":
        return ", ".join(tags.get(contact.pk, []))
    if column.startswith("custom:"):
        value = (contact.custom_values or {}).get(column[7:])
        return "" if value is None else str(value)
    value = getattr(contact, column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _rows(queryset: QuerySet, columns: list[str], actor: Actor) -> Iterator[list[str]]:
    batch: list[Contact] = []
    for contact in queryset.iterator(chunk_size=_BATCH):
        batch.append(contact)
        if len(batch) >= _BATCH:
            yield from _render(batch, columns, actor)
            batch = []
    yield from _render(batch, columns, actor)


def _render(batch: list[Contact], columns: list[str], actor: Actor) -> Iterator[list[str]]:
    tags = {}
    if "tags" in columns:
        tags = selectors.tags_by_contact(actor=actor, contact_ids=[c.pk for c in batch])
    for contact in batch:
        yield [_cell(contact, c, tags) for c in columns]


def export_contacts(*, actor: Actor, queryset: QuerySet, columns: list[str],
                    file_format: str) -> tuple[str, Iterator[bytes]]:
    """Start an export of ``queryset`` (CONTACTS_EXPORT): returns (content type, body chunks).

    Audited as a pair: CONTACTS_EXPORTED when it starts (rows, format, columns) and
    CONTACTS_EXPORT_COMPLETED only once its last byte went out (or CONTACTS_EXPORT_INTERRUPTED
    with the rows sent, when the download failed or the client went away). The body streams
    inside the actor's organisation scope and the request's audit context (accounts.streaming),
    so lazily read values (tags, custom fields) work after the view has returned.
    """
    actor.require(Perm.CONTACTS_EXPORT)
    if file_format not in FORMATS:
        raise ValueError("Choose CSV or Excel (.xlsx).")
    if not columns:
        raise ValueError("Choose at least one column to export.")
    # Only the actor's own organisation's rows, whatever queryset a door hands in.
    queryset = queryset.filter(organization_id=actor.organization_id)
    count = queryset.count()
    started = audit.record(AuditAction.CONTACTS_EXPORTED, actor=actor, organization=actor.organization_id,
                           detail={"rows": count, "format": file_format,
                                   "columns": [c.replace(":", "_") for c in columns]})
    headers = [STANDARD_COLUMNS.get(c, c.removeprefix("custom:")) for c in columns]
    progress = {"rows": 0}

    def completed(_chunks: int) -> None:
        audit.record(AuditAction.CONTACTS_EXPORT_COMPLETED, actor=actor, organization=actor.organization_id,
                     detail={"rows": progress["rows"], "format": file_format, "started_event": started.pk})

    def interrupted(_chunks: int, why: str) -> None:
        audit.record(AuditAction.CONTACTS_EXPORT_INTERRUPTED, actor=actor, organization=actor.organization_id,
                     detail={"rows_sent": progress["rows"], "format": file_format, "why": why,
                             "started_event": started.pk})

    if file_format == "csv":
        content_type = "text/csv; charset=utf-8"
        body = _csv_chunks(queryset, columns, headers, progress, actor)
    else:
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        body = _xlsx_chunks(queryset, columns, headers, progress, actor)
    return content_type, stream_in_scope(body, organization=actor.organization_id, on_complete=completed,
                                         on_interrupted=interrupted)


def _csv_chunks(queryset, columns, headers, progress: dict, actor: Actor) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # BOM: Excel then reads the file as UTF-8 (accents survive)
    writer.writerow([neutralise(h) for h in headers])
    n = 0
    for n, row in enumerate(_rows(queryset, columns, actor), start=1):
        writer.writerow([neutralise(v) for v in row])
        if n % 500 == 0:
            progress["rows"] = n
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    progress["rows"] = n
    yield buffer.getvalue().encode()


def _xlsx_chunks(queryset, columns, headers, progress: dict, actor: Actor) -> Iterator[bytes]:
    """The workbook, streamed as its rows are read (contacts.xlsx_stream: nothing on disk)."""
    phone_col = columns.index("phone") if "phone" in columns else -1

    def rows() -> Iterator[list[str]]:
        for row in _rows(queryset, columns, actor):
            progress["rows"] += 1
            yield [v if i == phone_col else neutralise(v) for i, v in enumerate(row)]

    yield from stream_workbook(headers, rows(), sheet="Contacts")
