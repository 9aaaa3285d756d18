"""Submissions to CSV (UTF-8 with BOM, so Excel reads accents) and XLSX, one column per question.

Formula-safe through contacts' neutraliser (a cell starting with = + - @ tab or CR gets an
apostrophe); XLSX cells are typed strings, never formulas. The export is audited
(EXPORT_DOWNLOADED: questionnaire, rows, format) and the rows are produced inside the
organisation's scope even when the response streams after the view has returned.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django_scopes import scope

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from campaigns.intake.answers import display
from campaigns.intake.models import Questionnaire, Submission
from contacts.exporting import neutralise

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FIXED_COLUMNS = ["Submission", "Submitted at (UTC)", "Version", "Contact id", "Reviewed"]
_BATCH = 500


def question_columns(questionnaire: Questionnaire) -> list[tuple[str, dict]]:
    """(key, question) for every question ever asked: current version's order, then retired ones."""
    columns: dict[str, dict] = {}
    current = questionnaire.current_version
    if current is not None:
        for question in current.questions:
            columns[question["key"]] = question
    for version in questionnaire.versions.order_by("-number"):
        for question in version.questions:
            columns.setdefault(question["key"], question)
    return list(columns.items())


def _row(submission: Submission, columns: list[tuple[str, dict]], language: str) -> list[str]:
    answers = submission.answers or {}
    fixed = [
        str(submission.pk),
        submission.submitted_at.strftime("%Y-%m-%d %H:%M:%S"),
        str(submission.version.number),
        str(submission.contact_id or ""),
        "yes" if submission.reviewed_at else "no",
    ]
    return fixed + [display(question, answers.get(key), language) for key, question in columns]


def _rows(organization, questionnaire: Questionnaire, columns, language: str) -> Iterator[list[str]]:
    # The response may stream after the view returned (and the middleware left the scope).
    with scope(organization=organization):
        queryset = (
            Submission.objects.filter(questionnaire=questionnaire)
            .select_related("version")
            .order_by("submitted_at", "pk")
        )
        for submission in queryset.iterator(chunk_size=_BATCH):
            yield [neutralise(cell) for cell in _row(submission, columns, language)]


def export_submissions(
    *, actor: Actor, questionnaire: Questionnaire, file_format: str
) -> tuple[str, Iterator[bytes]]:
    """Audit the export and return (content type, body chunks)."""
    actor.require(Perm.CONTACTS_EXPORT, questionnaire)
    if file_format not in FORMATS:
        raise ValueError("Choose CSV or Excel (xlsx).")
    columns = question_columns(questionnaire)
    headers = FIXED_COLUMNS + [neutralise(q["prompt"][:80] or key) for key, q in columns]
    count = Submission.objects.filter(questionnaire=questionnaire).count()
    audit.record(
        AuditAction.EXPORT_DOWNLOADED,
        target=questionnaire,
        actor=actor,
        detail={
            "questionnaire_id": questionnaire.pk,
            "rows": count,
            "format": file_format,
            "kind": "intake_submissions",
        },
    )
    rows = _rows(questionnaire.organization, questionnaire, columns, questionnaire.language)
    if file_format == "csv":
        return CONTENT_TYPES["csv"], _csv_chunks(headers, rows)
    return CONTENT_TYPES["xlsx"], iter([_xlsx_bytes(headers, rows)])


def _csv_chunks(headers: list[str], rows: Iterator[list[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # the BOM: Excel then reads the file as UTF-8 (accents intact)
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for n, row in enumerate(rows, start=1):
        writer.writerow(row)
        if n % _BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode()


def _xlsx_bytes(headers: list[str], rows: Iterator[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Submissions")
    sheet.append(headers)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # always text: never a formula
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
