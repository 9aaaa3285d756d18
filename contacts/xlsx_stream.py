"""A streaming XLSX writer for exports: one sheet of text cells, produced chunk by chunk.

openpyxl's write-only mode writes the worksheet XML to a temporary file — plaintext PHI on disk —
and the finished workbook is held in memory before the first byte goes out. This writes the
same kind of workbook (inline-string cells: always text, never a formula, a number or a date)
straight into a ZIP stream (data descriptors, no seeking), so nothing touches the disk and an
export of any size streams in constant memory.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Characters XML 1.0 cannot carry (control characters other than tab, newline, carriage return).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_STATIC = {
    "[Content_Types].xml": (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
    "_rels/.rels": (
        f'{_XML}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        '<sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        f'{_XML}<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'),
    "xl/styles.xml": (
        f'{_XML}<styleSheet xmlns="{_MAIN}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '</styleSheet>'),
}


class _Sink:
    """A write-only file for zipfile that hands out what was written since the last call."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _row_xml(number: int, values: list[str], letters: list[str]) -> str:
    cells = "".join(
        f'<c r="{letters[i]}{number}" t="inlineStr"><is><t xml:space="preserve">'
        f'{escape(_ILLEGAL.sub("", value))}</t></is></c>'
        for i, value in enumerate(values) if value != "")
    return f'<row r="{number}">{cells}</row>'


def stream_workbook(header: list[str], rows: Iterable[list[str]], *, sheet: str = "Sheet1",
                    rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The bytes of an .xlsx with one sheet: `header`, then `rows`, every cell a text cell."""
    sink = _Sink()
    letters = [column_letter(i) for i in range(len(header))]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in _STATIC.items():
            archive.writestr(name, content.replace("{sheet}", escape(sheet, {'"': "&quot;"})))
        yield sink.take()
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
            part.write(_row_xml(1, header, letters).encode())
            for number, values in enumerate(rows, start=2):
                part.write(_row_xml(number, values, letters).encode())
                if number % rows_per_chunk == 0:
                    chunk = sink.take()
                    if chunk:
                        yield chunk
            part.write(b"</sheetData></worksheet>")
    yield sink.take()
