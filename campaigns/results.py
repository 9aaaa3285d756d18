"""A campaign's progress and results: counts (no PHI), the delivery funnel, and the per-recipient
list and export (names and numbers: audited PHI reads).

A recipient's live state is its message's status where it has one (status callbacks move
messages; the dispatcher copies them onto recipients while it runs, but a "delivered" arriving
after the campaign completed must count too), else its own state. One aggregate query.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse

import audit
from accounts.roles import Perm
from accounts.streaming import stream_in_scope
from audit import AuditAction
from campaigns import contacts_access
from campaigns.models import Campaign, CampaignRecipient, RecipientState, SkipReason
from campaigns.services._access import require
from contacts.exporting import neutralise
from contacts.xlsx_stream import stream_workbook

_LIVE = Case(When(message__isnull=True, then=F("state")),
             When(message__status__in=["failed", "undelivered"], then=Value("failed")),
             When(message__status__in=RecipientState.values, then=F("message__status")),
             default=F("state"))
_OPEN = {"pending", "deferred", "queued", "sending"}
FUNNEL = (("recipients", "Recipients"), ("queued", "Queued"), ("sent", "Sent"), ("delivered", "Delivered"),
          ("read", "Read"), ("replied", "Replied"))
UNKNOWN_EXPLANATION = (
    "“Unknown — check”: the send was interrupted (a crash or a time-out) and the provider could not "
    "confirm whether it went out. CareRelay did not send it again, so nobody gets it twice. Look the "
    "message up in the provider's log (by the patient's number and the time), then answer on the message in "
    "its conversation: it went out, send it again, or leave it unsent.")


@dataclass(frozen=True)
class Progress:
    state: str
    total: int
    counts: dict[str, int]
    skipped_by_reason: dict[str, int]
    replied: int
    opted_out: int
    percent: int
    funnel: list[tuple[str, str, int, int]]  # key, label, count, percent of recipients

    def as_json(self) -> dict:
        return {"state": self.state, "total": self.total, "counts": self.counts, "percent": self.percent,
                "skipped_by_reason": self.skipped_by_reason, "replied": self.replied,
                "opted_out": self.opted_out, "opt_out_rate": self.opt_out_rate,
                "funnel": [{"key": k, "label": label, "count": n, "percent": p}
                           for k, label, n, p in self.funnel]}

    @property
    def opt_out_rate(self) -> float:
        sent = self.funnel[2][2]
        return round(100.0 * self.opted_out / sent, 1) if sent else 0.0


def progress(*, actor, campaign: Campaign) -> Progress:
    """Counts per live state, skips by reason, replies and STOPs, the funnel (no PHI, not audited)."""
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    counts = {state: 0 for state in RecipientState.values}
    for row in rows.annotate(live=_LIVE).values("live").annotate(n=Count("pk")):
        counts[row["live"]] = counts.get(row["live"], 0) + row["n"]
    reasons = dict(rows.filter(state=RecipientState.SKIPPED).values_list("skip_reason")
                   .annotate(n=Count("pk")).values_list("skip_reason", "n"))
    extra = rows.aggregate(replied=Count("pk", filter=Q(replied_at__isnull=False)),
                           opted_out=Count("pk", filter=Q(opted_out_by_reply=True)))
    total = sum(counts.values())
    open_now = sum(counts[s] for s in _OPEN)
    if total:
        percent = int(100 * (total - open_now) / total)
    else:
        percent = 100 if Campaign.objects.filter(pk=campaign.pk, fanout_done=True).exists() else 0
    campaign_state = Campaign.objects.filter(pk=campaign.pk).values_list("state", flat=True).first() or ""
    reached = {
        "recipients": total - counts["skipped"],
        "queued": sum(counts[s] for s in ("queued", "sending", "sent", "delivered", "read", "failed",
                                          "unknown")),
        "sent": counts["sent"] + counts["delivered"] + counts["read"],
        "delivered": counts["delivered"] + counts["read"],
        "read": counts["read"],
        "replied": extra["replied"],
    }
    base = reached["recipients"] or 1
    funnel = [(key, label, reached[key], int(100 * reached[key] / base)) for key, label in FUNNEL]
    return Progress(campaign_state, total, counts, reasons, extra["replied"], extra["opted_out"], percent,
                    funnel)


@dataclass(frozen=True)
class RecipientRow:
    """One line of the results list (PHI: name and number)."""

    recipient_id: int
    contact_id: int
    name: str
    phone: str
    state: str
    state_label: str
    skip_reason: str
    replied: bool
    opted_out: bool
    conversation_url: str
    explanation: str


def _rows(campaign: Campaign, queryset: QuerySet, actor, identities: bool = True) -> list[RecipientRow]:
    # The reply's conversation (where staff answer it), else the one the campaign's message went to.
    batch = list(queryset.annotate(live=_LIVE, thread=Coalesce("reply_message__conversation_id",
                                                               "message__conversation_id")).values(
        "pk", "contact_id", "live", "skip_reason", "replied_at", "opted_out_by_reply", "thread"))
    contacts = (contacts_access.contacts_by_id([r["contact_id"] for r in batch], actor=actor)
                if identities else {})
    labels = dict(RecipientState.choices)
    reasons = dict(SkipReason.choices)
    out = []
    for r in batch:
        contact = contacts.get(r["contact_id"])
        name = " ".join(filter(None, [getattr(contact, "first_name", ""), getattr(contact, "last_name", "")]))
        conversation = r["thread"]
        out.append(RecipientRow(
            r["pk"], r["contact_id"], name, getattr(contact, "phone", "") or "", r["live"],
            labels.get(r["live"], r["live"]), reasons.get(r["skip_reason"], ""), r["replied_at"] is not None,
            r["opted_out_by_reply"],
            reverse("messaging:thread", args=[conversation]) if conversation else "",
            UNKNOWN_EXPLANATION if r["live"] == RecipientState.UNKNOWN else ""))
    return out


def recipient_page(*, actor, campaign: Campaign, state: str = "", page: int = 1,
                   per_page: int = 50, identities: bool = True) -> tuple[list[RecipientRow], int]:
    """One page of the per-recipient list (optionally one live state) and the number of pages:
    an audited PHI read (CAMPAIGN_RECIPIENTS_VIEWED with the campaign, page and row count).

    ``identities=False`` (the partner API, which answers contact ids): names and numbers are
    neither decrypted nor returned (empty), and the event says so."""
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    require(actor, Perm.CONTACTS_VIEW)
    queryset = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")
    if state in RecipientState.values:
        queryset = queryset.annotate(live=_LIVE).filter(live=state)
    total = queryset.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = _rows(campaign, queryset[(page - 1) * per_page: page * per_page], actor, identities)
    audit.record(AuditAction.CAMPAIGN_RECIPIENTS_VIEWED, target=campaign, actor=actor,
                 detail={"page": page, "rows": len(rows), "state": state or None, "identities": identities})
    return rows, pages


EXPORT_HEADERS = ["Recipient", "Contact", "Name", "Phone", "State", "Skipped because", "Replied",
                  "Replied STOP"]
EXPORT_FORMATS = ("csv", "xlsx")
_PHONE = EXPORT_HEADERS.index("Phone")
_EXPORT_BATCH = 1000


def export_recipients(*, actor, campaign: Campaign, file_format: str) -> tuple[str, Iterator[bytes]]:
    """The per-recipient results as CSV or XLSX, streamed in the tenant's scope, every cell
    neutralised against spreadsheet formulas; audited (CAMPAIGN_RECIPIENTS_EXPORTED) on completion."""
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    require(actor, Perm.CONTACTS_EXPORT)
    if file_format not in EXPORT_FORMATS:
        raise ValueError("format must be csv or xlsx")
    progress_rows = {"rows": 0}

    def lines() -> Iterator[list[str]]:
        last = 0
        while True:
            batch = list(CampaignRecipient.objects.filter(campaign=campaign, pk__gt=last)
                         .order_by("pk")[:_EXPORT_BATCH])
            if not batch:
                return
            last = batch[-1].pk
            ids = CampaignRecipient.objects.filter(pk__in=[r.pk for r in batch]).order_by("pk")
            for row in _rows(campaign, ids, actor):
                progress_rows["rows"] += 1
                yield [str(v) for v in (
                    row.recipient_id, row.contact_id, row.name, row.phone, row.state_label, row.skip_reason,
                    "yes" if row.replied else "no", "yes" if row.opted_out else "no")]

    def completed(_chunks: int) -> None:
        audit.record(AuditAction.CAMPAIGN_RECIPIENTS_EXPORTED, target=campaign, actor=actor,
                     detail={"rows": progress_rows["rows"], "format": file_format})

    if file_format == "csv":
        body, content_type = _csv(lines()), "text/csv; charset=utf-8"
    else:
        # XLSX cells are text cells; the phone keeps its "+" (a formula needs "=" to run there,
        # and every other cell is neutralised all the same).
        cells = ([v if i == _PHONE else neutralise(v) for i, v in enumerate(line)] for line in lines())
        body = stream_workbook(EXPORT_HEADERS, cells, sheet="Recipients")
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return content_type, stream_in_scope(body, organization=actor.organization_id, on_complete=completed)


def _csv(lines: Iterator[list[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(EXPORT_HEADERS)
    for n, line in enumerate(lines, start=1):
        writer.writerow([neutralise(v) for v in line])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
