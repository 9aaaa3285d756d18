"""Statement files: PDF (fpdf2, pure Python) and CSV. Figures come from the stored lines only."""

from __future__ import annotations

import csv
import io

from django.conf import settings

from billing.gateway import gateway
from billing.models import Statement, StatementLine
from billing.periods import format_money


def statement_csv(statement: Statement, lines: list[StatementLine], organization_name: str) -> str:
    """One row per line, then the total; amounts in minor units and formatted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["statement", "organisation", "period_start", "period_end_exclusive", "line",
                     "description", "quantity", "unit", "amount_minor", "currency", "amount"])
    for line in lines:
        writer.writerow([statement.number, organization_name, statement.period_start.isoformat(),
                         statement.period_end.isoformat(), line.position, line.description, line.quantity,
                         line.unit, line.amount, statement.currency,
                         format_money(line.amount, statement.currency)])
    writer.writerow([statement.number, organization_name, statement.period_start.isoformat(),
                     statement.period_end.isoformat(), "total", "Total", "", "", statement.total,
                     statement.currency, format_money(statement.total, statement.currency)])
    return out.getvalue()


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1; organisation names may hold anything.
    return text.replace("\u2013", "-").replace("€", "EUR ").encode("latin-1", "replace").decode("latin-1")


def statement_pdf(statement: Statement, lines: list[StatementLine], organization_name: str) -> bytes:
    """A one-page A4 statement: issuer, organisation, period, lines, total, how to pay."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Statement {statement.number}")
    pdf.set_creator(settings.BILLING_ISSUER)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"{settings.BILLING_ISSUER} statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    last_day = statement.period_end.toordinal() - 1
    from datetime import date

    for text in (f"Statement {statement.number}", f"For: {organization_name}",
                 f"Period: {statement.period_start:%d %B %Y} - {date.fromordinal(last_day):%d %B %Y}",
                 f"Issued: {statement.issued_at:%d %B %Y}   Due: {statement.due_on:%d %B %Y}",
                 f"Status: {statement.get_status_display()}",
                 f"Segments: {statement.segments_used:,} used of {statement.segments_included:,} included"):
        pdf.cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    with pdf.table(col_widths=(110, 30, 40), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
        table.row(["Description", "Quantity", "Amount"])
        for line in lines:
            table.row([_latin1(line.description), f"{line.quantity:,} {line.unit}",
                       _latin1(format_money(line.amount, statement.currency))])
        table.row(["Total", "", _latin1(format_money(statement.total, statement.currency))])
    pdf.ln(6)
    instructions = gateway().describe_payment(statement)
    if instructions and statement.status == Statement.Status.OPEN:
        pdf.multi_cell(0, 6, _latin1(instructions))
    return bytes(pdf.output())
