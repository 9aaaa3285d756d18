"""Reading spreadsheets as a stream of rows: CSV (any of , ; tab; UTF-8 ± BOM, else Latin-1),
XLSX (openpyxl read-only) and XLS (xlrd). Nothing reads a whole CSV into memory.

Problems a person can fix raise FileProblem with a message saying what to do.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from contacts.importing import storage

csv.field_size_limit(1 << 20)
SNIFF_BYTES = 1 << 20
_SAVE_AS = "Save it from your spreadsheet as CSV (UTF-8) or Excel (.xlsx) and upload it again."


class FileProblem(Exception):
    """The file cannot be read as a spreadsheet; the message tells the person what to do."""


@dataclass(frozen=True)
class FileKind:
    file_format: str
    encoding: str = ""
    delimiter: str = ""


def detect(head: bytes, filename: str) -> FileKind:
    """What kind of spreadsheet the first bytes show (the extension is only a hint)."""
    if not head.strip():
        raise FileProblem("The file is empty. " + _SAVE_AS)
    if head.startswith(b"PK\x03\x04"):
        return FileKind("xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return FileKind("xls")
    name = filename.lower()
    if name.endswith((".xlsx", ".xls", ".xlsm")):
        raise FileProblem("This file is named like an Excel file but is not one. " + _SAVE_AS)
    # UTF-16 and UTF-32 text is full of zero bytes: recognise it (by its byte-order mark, or the
    # zero-every-other-byte pattern of BOM-less UTF-16) before deciding a file is binary.
    encoding = _wide_encoding(head)
    if encoding is None:
        if b"\x00" in head[:8192]:
            raise FileProblem("This file is not a text spreadsheet (it contains binary data). " + _SAVE_AS)
        encoding = _detect_encoding(head)
    if encoding.startswith(("utf-16", "utf-32")):
        try:  # a cut character at the end of the sample is fine, anything else is not text
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            text = "\x00"
        sample = text.lstrip("\ufeff")[:4096]
        if sum(ch < " " and ch not in "\t\r\n" for ch in sample) > len(sample) // 100:
            raise FileProblem("This file is not a text spreadsheet (it contains binary data). " + _SAVE_AS)
    else:
        text = head.decode(encoding, errors="ignore")
    return FileKind("csv", encoding, _detect_delimiter(text.lstrip("\ufeff")))


def _wide_encoding(head: bytes) -> str | None:
    """UTF-32 / UTF-16 from the byte-order mark (UTF-32's first: FF FE 00 00 starts like UTF-16 LE),
    or BOM-less UTF-16 whose text is mostly ASCII (every other byte zero)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"  # the codec reads the mark and drops it
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)  # a cut multi-byte tail is fine
        return "utf-8"
    except UnicodeDecodeError:
        # Excel on Windows writes cp1252; Latin-1 decodes any byte, so it is the last resort.
        try:
            head.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"


def _detect_delimiter(text: str) -> str:
    # The header line decides: the candidate it contains most (quotes aside) wins.
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def cell_text(value: object) -> str:
    """A spreadsheet cell as text: 4155550142.0 → "4155550142", dates → ISO, None → ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time(0) else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


@contextmanager
def open_rows(organization_id: int, job_uuid, kind: FileKind) -> Iterator[Iterator[list[str]]]:
    """The file's rows as lists of text cells, header row first, streamed from encrypted storage."""
    raw = storage.open_upload(organization_id, job_uuid)
    try:
        if kind.file_format == "csv":
            yield _csv_rows(raw, kind)
        elif kind.file_format == "xlsx":
            yield _xlsx_rows(raw)
        elif kind.file_format == "xls":
            yield _xls_rows(raw)
        else:
            raise FileProblem("Unknown file type. " + _SAVE_AS)
    finally:
        raw.close()


def _csv_rows(raw, kind: FileKind) -> Iterator[list[str]]:
    text = io.TextIOWrapper(raw, encoding=kind.encoding, newline="")
    reader = csv.reader(text, delimiter=kind.delimiter or ",")
    try:
        yield from reader
    except UnicodeDecodeError:
        raise FileProblem(
            f"Row {reader.line_num + 1} and after could not be read as {kind.encoding} text "
            "(the file mixes text encodings). " + _SAVE_AS
        ) from None
    except csv.Error:
        raise FileProblem(
            f"Row {reader.line_num} is not valid CSV (a quote is probably not closed). "
            "Fix that row or " + _SAVE_AS[0].lower() + _SAVE_AS[1:]
        ) from None


def _xlsx_rows(raw) -> Iterator[list[str]]:
    import zipfile

    from openpyxl import load_workbook

    # openpyxl needs a seekable file; an .xlsx is compressed, so this is far smaller than its CSV.
    data = io.BytesIO(raw.read())
    try:
        workbook = load_workbook(data, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FileProblem("This Excel file is damaged or not really an .xlsx file. " + _SAVE_AS) from None
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [cell_text(v) for v in row]
    finally:
        workbook.close()


def _xls_rows(raw) -> Iterator[list[str]]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=raw.read(), on_demand=True)
    except xlrd.XLRDError:
        raise FileProblem("This .xls file could not be read. " + _SAVE_AS) from None
    sheet = book.sheet_by_index(0)
    for r in range(sheet.nrows):
        cells = []
        for cell in sheet.row(r):
            if cell.ctype == xlrd.XL_CELL_DATE:
                cells.append(cell_text(xlrd.xldate_as_datetime(cell.value, book.datemode)))
            else:
                cells.append(cell_text(cell.value))
        yield cells


def is_blank(row: list[str]) -> bool:
    return not any(c.strip() for c in row)
