"""Fan-out: one CampaignRecipient row per audience contact, created in chunks.

Each chunk is one transaction holding one multi-row INSERT (never a query per contact)
and the campaign's keyset cursor, so a crashed fan-out resumes after its last
committed chunk; the (campaign, contact) unique constraint with ``ON CONFLICT DO NOTHING`` makes a
repeated chunk harmless. The campaign's state is read before every chunk: a cancel stops
the fan-out at once, in whichever worker runs it. Memory is one chunk of contacts and rows.

Eligible recipients inside their sending window are ``pending``; outside it they are
``deferred`` with ``send_after`` at their next opening (their own time zone). The excluded
are ``skipped`` with their reason, so the results page can count them.
"""

from __future__ import annotations

import datetime
from collections import Counter
from contextlib import contextmanager
from typing import NamedTuple

from django.db import connections, router, transaction
from django.utils import timezone

import audit
from accounts.roles import Perm
from audit import AuditAction
from campaigns import quiet_hours
from campaigns.audience import AudienceEvaluator, Outcome
from campaigns.models import Campaign, CampaignRecipient, CampaignState, RecipientState
from campaigns.services._access import require

# States a fan-out may continue in (scheduled: started by the beat sweep a moment from now).
_FANOUT_STATES = (CampaignState.RUNNING, CampaignState.PAUSED)


class RecipientRow(NamedTuple):
    """The values of one CampaignRecipient row (no model instance: a million of them is slow)."""

    contact_id: int
    state: str
    skip_reason: str
    send_after: datetime.datetime | None
    language: str
    segments: int


_SKIPPED, _DEFERRED, _PENDING = (RecipientState.SKIPPED.value, RecipientState.DEFERRED.value,
                                 RecipientState.PENDING.value)


def recipient_row(campaign: Campaign, outcome: Outcome, now: datetime.datetime,
                  window: quiet_hours.Window, openings: dict[str, datetime.datetime]) -> RecipientRow:
    """The row for one outcome; ``openings`` caches the next opening per time zone for ``now``."""
    if outcome.reason:
        return RecipientRow(outcome.contact_id, _SKIPPED, str(outcome.reason), None, outcome.language, 0)
    tz_name = outcome.timezone
    opening = openings.get(tz_name)
    if opening is None:
        tz = quiet_hours.zone(tz_name, campaign.organization.timezone)  # a bad zone name: the org's
        opening = openings[tz_name] = quiet_hours.next_send_time(now, tz, window)
    if opening > now:
        return RecipientRow(outcome.contact_id, _DEFERRED, "", opening, outcome.language, outcome.segments)
    return RecipientRow(outcome.contact_id, _PENDING, "", None, outcome.language, outcome.segments)


_TABLE = CampaignRecipient._meta.db_table
_LOCK_SPACE = 4301  # advisory-lock namespace of campaign fan-outs (the second key is the campaign id)
# PostgreSQL: one INSERT per chunk with each column as one array parameter (unnest), instead of
# building model instances and one placeholder per value (measured: most of the fan-out's time).
_INSERT_ROWS = (
    f'INSERT INTO "{_TABLE}" (organization_id, campaign_id, contact_id, state, skip_reason, send_after, '  # noqa: S608
    "language, segments, created_at, updated_at) "
    "SELECT %s, %s, t.contact_id, t.state, t.skip_reason, t.send_after, t.language, t.segments, %s, %s "
    "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::timestamptz[], %s::varchar[], "
    "%s::smallint[]) AS t(contact_id, state, skip_reason, send_after, language, segments) "
    "ON CONFLICT (campaign_id, contact_id) DO NOTHING"
)


def insert_rows(campaign: Campaign, rows: list[RecipientRow], now: datetime.datetime) -> None:
    """Insert a chunk's rows in one statement; rows already there are left alone (idempotent)."""
    if not rows:
        return
    connection = connections[router.db_for_write(CampaignRecipient)]
    if connection.vendor != "postgresql":  # the embedded SQLite database: the ORM's bulk path
        CampaignRecipient.objects.bulk_create(
            [CampaignRecipient(organization_id=campaign.organization_id, campaign_id=campaign.pk,
                               **row._asdict()) for row in rows],
            ignore_conflicts=True, batch_size=500)
        return
    columns = list(zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ROWS, [campaign.organization_id, campaign.pk, now, now,
                                      *[list(column) for column in columns]])


def fan_out(*, actor, campaign_id: int, chunk_size: int | None = None) -> Counter:
    """Create the campaign's recipient rows (resumable, idempotent); returns counts by state.

    Runs outside a transaction (one per chunk). Stops early when the campaign is cancelled.
    One worker at a time per campaign: a second one returns at once (nothing created).
    """
    campaign = Campaign.objects.select_related("organization", "channel", "template").get(pk=campaign_id)
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    counts: Counter = Counter()
    if campaign.fanout_done:
        return counts
    with _only_worker(campaign) as alone:
        if not alone:  # a re-delivered task while the first still runs: let that one finish
            return counts
        return _fan_out(campaign, actor=actor, chunk_size=chunk_size, counts=counts)


@contextmanager
def _only_worker(campaign: Campaign):
    """Whether this process holds the campaign's fan-out lock (PostgreSQL advisory lock, held by
    the session: a killed worker's connection closes and releases it). Elsewhere: always."""
    connection = connections[router.db_for_write(Campaign)]
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, campaign.pk])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, campaign.pk])


def _fan_out(campaign: Campaign, *, actor, chunk_size: int | None, counts: Counter) -> Counter:
    campaign.refresh_from_db(fields=["fanout_cursor", "fanout_done"])  # another worker may have moved it
    if campaign.fanout_done:
        return counts
    evaluator = AudienceEvaluator(campaign, actor=actor, now=timezone.now(), chunk_size=chunk_size)
    window = evaluator.window()
    for outcomes, cursor in evaluator.chunks(campaign.fanout_cursor or None):
        state = Campaign.objects.filter(pk=campaign.pk).values_list("state", flat=True).first()
        if state not in _FANOUT_STATES:
            return counts
        now, openings = timezone.now(), {}
        rows = [recipient_row(campaign, outcome, now, window, openings) for outcome in outcomes]
        with transaction.atomic():
            insert_rows(campaign, rows, now)
            Campaign.objects.filter(pk=campaign.pk).update(fanout_cursor=cursor)
        counts.update(row.state for row in rows)
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(fanout_done=True, updated_at=timezone.now())
        audit.record(AuditAction.CAMPAIGN_RECIPIENTS_CREATED, target=campaign, actor=actor,
                     detail={str(k): v for k, v in sorted(counts.items())})
    return counts
