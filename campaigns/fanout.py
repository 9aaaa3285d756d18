"""Fan-out: one CampaignRecipient row per audience contact, created in chunks.

Each chunk is one transaction holding a multi-row INSERT (``bulk_create``, never a query
per contact) and the campaign's keyset cursor, so a crashed fan-out resumes after its last
committed chunk; the (campaign, contact) unique constraint with ``ignore_conflicts`` makes a
repeated chunk harmless. The campaign's state is read before every chunk: a cancel stops
the fan-out at once, in whichever worker runs it. Memory is one chunk of contacts and rows.

Eligible recipients inside their sending window are ``pending``; outside it they are
``deferred`` with ``send_after`` at their next opening (their own time zone). The excluded
are ``skipped`` with their reason, so the results page can count them.
"""

from __future__ import annotations

import datetime
from collections import Counter

from django.db import transaction
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


def recipient_row(campaign: Campaign, outcome: Outcome, now: datetime.datetime,
                  window: quiet_hours.Window, openings: dict[str, datetime.datetime]) -> CampaignRecipient:
    """The row for one outcome; ``openings`` caches the next opening per time zone for ``now``."""
    row = CampaignRecipient(organization_id=campaign.organization_id, campaign_id=campaign.pk,
                            contact_id=outcome.contact_id, language=outcome.language,
                            segments=outcome.segments)
    if outcome.reason:
        row.state, row.skip_reason = RecipientState.SKIPPED, outcome.reason
        return row
    tz_name = outcome.timezone
    opening = openings.get(tz_name)
    if opening is None:
        tz = quiet_hours.zone(tz_name, campaign.organization.timezone)  # a bad zone name: the org's
        opening = openings[tz_name] = quiet_hours.next_send_time(now, tz, window)
    if opening > now:
        row.state, row.send_after = RecipientState.DEFERRED, opening
    return row


def fan_out(*, actor, campaign_id: int, chunk_size: int | None = None) -> Counter:
    """Create the campaign's recipient rows (resumable, idempotent); returns counts by state.

    Runs outside a transaction (one per chunk). Stops early when the campaign is cancelled.
    """
    campaign = Campaign.objects.select_related("organization", "channel", "template").get(pk=campaign_id)
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    counts: Counter = Counter()
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
            CampaignRecipient.objects.bulk_create(rows, ignore_conflicts=True, batch_size=len(rows) or 1)
            Campaign.objects.filter(pk=campaign.pk).update(fanout_cursor=cursor)
        counts.update(row.state for row in rows)
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(fanout_done=True, updated_at=timezone.now())
        audit.record(AuditAction.CAMPAIGN_RECIPIENTS_CREATED, target=campaign, actor=actor,
                     detail={str(k): v for k, v in sorted(counts.items())})
    return counts
