"""Everything a campaign needs at the moment of sending, so the dispatcher is a thin loop:

    gate = selectors.dispatch_gate(campaign_id=...)          # paused / cancelled: stop
    rows = due_recipients(campaign=..., now=..., after_id=..., limit=...)
    batch = prepare_batch(campaign=..., recipients=rows, now=...)
    apply_batch_outcomes(batch)                               # deferred / skipped: 2 statements
    messages = messaging.queue_messages(...batch.ready...)    # idempotency_key per recipient
    record_queued(campaign=..., message_ids={recipient_id: message_id})

A recipient is re-checked when its turn comes, not only at fan-out: a STOP that arrived
mid-campaign skips it (opted out), a recipient whose window closed while the campaign was
sending is deferred to its next opening, and the text is rendered from the contact's
current values. ``idempotency_key`` is stable per (campaign, recipient), so a batch
re-run after a crash queues nothing twice (messaging's key is unique per channel).
Reads and writes are per batch (one query for the contacts, one UPDATE per outcome kind).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from django.db.models import Q
from django.utils import timezone

from accounts.db_values import ByPk
from accounts.roles import Perm
from campaigns import contacts_access, quiet_hours
from campaigns.audience import AudienceEvaluator
from campaigns.models import Campaign, CampaignKind, CampaignRecipient, RecipientState, SkipReason
from campaigns.services._access import require

if TYPE_CHECKING:
    from contacts.models import Contact


@dataclass(frozen=True)
class PreparedMessage:
    """One recipient's message, ready for messaging's batch path (PHI: never log or enqueue it)."""

    recipient_id: int
    contact_id: int
    body: str
    segments: int
    language: str
    idempotency_key: str
    # WhatsApp: the approved template and its rendered parameters (None/() for SMS).
    whatsapp_template_id: int | None = None
    parameters: tuple[str, ...] = ()


@dataclass
class Batch:
    ready: list[PreparedMessage] = field(default_factory=list)
    deferred: dict[int, datetime.datetime] = field(default_factory=dict)  # recipient id → send_after
    skipped: dict[int, str] = field(default_factory=dict)  # recipient id → SkipReason
    contacts: dict[int, Contact] = field(default_factory=dict)  # read once: the send path checks them


class DueRecipient(NamedTuple):
    """A recipient whose turn has come: all a send chunk reads of it."""

    pk: int
    contact_id: int


def idempotency_key(campaign_id: int, recipient_id: int) -> str:
    return f"campaign-{campaign_id}-recipient-{recipient_id}"


def due_recipients(*, actor, campaign: Campaign, now: datetime.datetime, after_id: int = 0,
                   limit: int = 500) -> list[DueRecipient]:
    """The next recipients to send, by id after ``after_id``: pending, or deferred and due.
    Read as (id, contact id) pairs: model instances cost more than the rest of the read."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    rows = (CampaignRecipient.objects.filter(campaign=campaign, pk__gt=after_id)
            .filter(Q(state=RecipientState.PENDING) | Q(state=RecipientState.DEFERRED, send_after__lte=now))
            .order_by("pk").values_list("pk", "contact_id")[:limit])
    return [DueRecipient(*row) for row in rows]


def prepare_batch(*, actor, campaign: Campaign, recipients: list[DueRecipient],
                  now: datetime.datetime) -> Batch:
    """Re-check and render ``recipients`` (see module docstring); nothing is written here."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    evaluator = AudienceEvaluator(campaign, actor=actor, now=now)
    window = evaluator.window()
    contacts = contacts_access.contacts_by_id([r.contact_id for r in recipients], actor=actor,
                                               for_sending=True, unread=evaluator.unread_when_sending())
    consent_column = contacts_access.CONSENT_COLUMN[campaign.channel.kind]
    org_tz = campaign.organization.timezone
    batch, openings = Batch(contacts=contacts), {}
    for recipient in recipients:
        contact = contacts.get(recipient.contact_id)
        reason = _reason_now(campaign, contact, consent_column)
        if reason:
            batch.skipped[recipient.pk] = reason
            continue
        tz_name = contact.timezone or org_tz
        if tz_name not in openings:
            openings[tz_name] = quiet_hours.next_send_time(now, quiet_hours.zone(tz_name, org_tz), window)
        if openings[tz_name] > now:
            batch.deferred[recipient.pk] = openings[tz_name]
            continue
        variant = evaluator.template.variant_for(contact.language)
        message = variant.render(evaluator.render_context(contact))
        if message.missing and evaluator.template.skip_on_missing:
            batch.skipped[recipient.pk] = SkipReason.MISSING_VALUE
            continue
        batch.ready.append(PreparedMessage(
            recipient_id=recipient.pk, contact_id=contact.pk, body=message.text, segments=message.segments,
            language=message.language, idempotency_key=idempotency_key(campaign.pk, recipient.pk),
            whatsapp_template_id=variant.whatsapp_template_id, parameters=message.parameters))
    return batch


def _reason_now(campaign: Campaign, contact, consent_column: str) -> str:
    if contact is None or not contact.phone:
        return SkipReason.NO_NUMBER
    consent = getattr(contact, consent_column)
    if consent is False:
        return SkipReason.OPTED_OUT
    if campaign.kind == CampaignKind.OUTREACH and consent is not True:
        return SkipReason.NO_CONSENT
    return ""


def apply_batch_outcomes(*, actor, campaign: Campaign, batch: Batch) -> None:
    """Store the batch's deferrals and skips: one UPDATE each, whatever the batch size."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    rows, now = CampaignRecipient.objects.filter(campaign=campaign), timezone.now()
    if batch.deferred:
        rows.filter(pk__in=list(batch.deferred)).update(
            state=RecipientState.DEFERRED, updated_at=now,
            send_after=ByPk(batch.deferred, CampaignRecipient._meta.get_field("send_after")))
    if batch.skipped:
        rows.filter(pk__in=list(batch.skipped)).update(
            state=RecipientState.SKIPPED, send_after=None, updated_at=now,
            skip_reason=ByPk({pk: str(r) for pk, r in batch.skipped.items()},
                             CampaignRecipient._meta.get_field("skip_reason")))


def record_queued(*, actor, campaign: Campaign, message_ids: dict[int, int]) -> int:
    """Mark recipients queued with the message messaging stored for them (one UPDATE)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    if not message_ids:
        return 0
    return (CampaignRecipient.objects.filter(campaign=campaign, pk__in=list(message_ids))
            .update(state=RecipientState.QUEUED, send_after=None, updated_at=timezone.now(),
                    message_id=ByPk(message_ids, CampaignRecipient._meta.get_field("message").target_field)))
