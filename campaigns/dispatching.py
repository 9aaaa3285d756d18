"""The campaign dispatcher: due recipients in chunks → messaging's batch path, until none is left.

One run (``run_dispatch``, called by ``campaigns.tasks.dispatch_campaign``) holds the
campaign's dispatch lock (a PostgreSQL session advisory lock: a killed worker's connection
closes and frees it) and loops over chunks of due recipients by id:

1. the gate (``selectors.dispatch_gate``, one indexed read): paused or cancelled → stop at once,
   whichever worker runs; a switched-off channel pauses the campaign and says why;
2. ``sending.prepare_batch`` re-checks consent and quiet hours and renders; deferrals and skips
   are stored in one statement each;
3. ``messaging.queue_messages`` with ``sending.idempotency_key`` per recipient (origin CAMPAIGN):
   a chunk re-run after a crash finds the keys stored and answers the same message ids; a chunk
   the plan refuses (billing's numbers on the refusal) stays pending and pauses the campaign
   (``lifecycle.pause_for_quota``): after an upgrade and a resume it is sent;
4. the message ids are stored on the recipients (one UPDATE), and the heartbeat renewed.

A run hands messaging no more than CAMPAIGN_DISPATCH_AHEAD_SECONDS of the channel's rate ahead
of what has gone out (``room_ahead``), so pause and cancel hold the rest within seconds.

Sending itself (slots of the channel's rate limiter shared by every worker, retries with
backoff, the exactly-once claim and reconciliation) is messaging's. When no recipient is due
the run says what comes next: nothing (completed or stopped), a later run at the next deferred
recipient's opening, or a short watch while messages are still on their way (their statuses
are copied onto the recipients in one statement, ``sync_recipient_states``), after which the
campaign completes. A run also stops after ``CAMPAIGN_DISPATCH_RUN_SECONDS`` and hands on to the
next task, so no worker is held by one campaign and a lost task costs one short run.
"""

from __future__ import annotations

import datetime
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, router
from django.db.models import Case, F, Min, OuterRef, Subquery, Value, When
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Perm
from campaigns import selectors, sending
from campaigns.models import Campaign, CampaignRecipient, CampaignState, RecipientState, SkipReason
from campaigns.services import lifecycle
from campaigns.services._access import require
from messaging.models import Message
from messaging.services.queueing import Content, Outcome, Recipient, TemplateSpec, queue_messages

logger = logging.getLogger(__name__)

DISPATCHER_JOB = "campaign-dispatcher"
_LOCK_SPACE = 4302  # advisory-lock namespace of campaign dispatchers (the second key: campaign id)

# messaging's refusal codes → why the recipient was skipped (the rest: "refused", see the message).
_REFUSAL_REASON = {"opted_out": SkipReason.OPTED_OUT, "no_address": SkipReason.NO_NUMBER,
                   "no_phone": SkipReason.NO_NUMBER, "invalid_address": SkipReason.INVALID_NUMBER,
                   "invalid_number": SkipReason.INVALID_NUMBER}
# Message statuses as recipient states (a recipient is "failed" whichever way its message failed).
_IN_FLIGHT = (RecipientState.QUEUED, RecipientState.SENDING, RecipientState.SENT, RecipientState.DELIVERED,
              RecipientState.UNKNOWN)


def dispatcher_actor(organization_id: int) -> Actor:
    return Actor.system(DISPATCHER_JOB, organization_id=organization_id)


@dataclass(frozen=True)
class RunResult:
    """What one run did and what comes next (``again_in``: seconds until the next run; None: none)."""

    outcome: str  # busy / stopped / paused / handed_on / pacing / waiting / watching / completed
    queued: int = 0
    again_in: float | None = None
    after_id: int = 0


@contextmanager
def _dispatch_lock(campaign_id: int):
    connection = connections[router.db_for_write(Campaign)]
    if connection.vendor != "postgresql":
        yield True  # the embedded mode runs tasks in-process, one at a time
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, campaign_id])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, campaign_id])


def run_dispatch(*, actor: Actor, campaign_id: int, after_id: int = 0,
                 budget_seconds: float | None = None) -> RunResult:
    """Send the campaign's due recipients chunk by chunk (module docstring); safe to run twice."""
    with _dispatch_lock(campaign_id) as held:
        if not held:
            return RunResult("busy")
        campaign = Campaign.objects.select_related("organization", "channel", "template").get(pk=campaign_id)
        require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
        return _run(actor, campaign, after_id, budget_seconds)


def _run(actor: Actor, campaign: Campaign, after_id: int, budget_seconds: float | None) -> RunResult:
    budget = settings.CAMPAIGN_DISPATCH_RUN_SECONDS if budget_seconds is None else budget_seconds
    ends = time.monotonic() + budget
    queued = 0
    while True:
        gate = selectors.dispatch_gate(campaign_id=campaign.pk)
        if not gate.may_send:
            return RunResult("stopped", queued)
        if lifecycle.pause_if_channel_inactive(actor=actor, campaign=campaign):
            return RunResult("paused", queued)
        now = timezone.now()
        Campaign.objects.filter(pk=campaign.pk).update(dispatch_heartbeat_at=now)
        room = room_ahead(campaign)
        if room <= 0:  # enough is on its way: look again in a second (a pause then holds the rest)
            return RunResult("pacing", queued, again_in=1.0, after_id=after_id)
        rows = sending.due_recipients(actor=actor, campaign=campaign, now=now, after_id=after_id,
                                      limit=min(settings.CAMPAIGN_DISPATCH_CHUNK_SIZE, room))
        if not rows:
            break
        queued += send_chunk(actor=actor, campaign=campaign, recipients=rows, now=now)
        after_id = rows[-1].pk
        if time.monotonic() >= ends:
            return RunResult("handed_on", queued, again_in=0.0, after_id=after_id)
    return _what_next(actor, campaign, queued)


def room_ahead(campaign: Campaign) -> int:
    """How many more messages the campaign may hand to messaging now: at most
    CAMPAIGN_DISPATCH_AHEAD_SECONDS of the channel's rate are queued and not yet sent, so a
    pause or cancel holds everything else within seconds (and campaigns/send_gate.py holds or
    withdraws the queued ones when messaging is about to send them)."""
    budget = max(1, int(campaign.channel.rate_limit_per_second * settings.CAMPAIGN_DISPATCH_AHEAD_SECONDS))
    on_the_way = (CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.QUEUED,
                                                   message__status__in=["queued", "sending"]).count())
    return budget - on_the_way


def send_chunk(*, actor: Actor, campaign: Campaign, recipients: list[sending.DueRecipient],
               now: datetime.datetime) -> int:
    """Prepare, store outcomes, queue and record one chunk; returns how many messages it queued."""
    batch = sending.prepare_batch(actor=actor, campaign=campaign, recipients=recipients, now=now)
    refused: dict[int, str] = {}
    message_ids: dict[int, int] = {}
    quota: dict | None = None  # billing's numbers, when the plan refused part of the chunk
    for content, ready in _groups(batch.ready):
        if quota is not None:  # the plan is spent: the chunk's other groups wait as well
            break
        result = queue_messages(
            actor=actor, channel=campaign.channel, origin=Message.Origin.CAMPAIGN, content=content,
            recipients=[Recipient(contact_id=m.contact_id, body=m.body if content.template is None else None,
                                  idempotency_key=m.idempotency_key) for m in ready],
            contacts=[batch.contacts[m.contact_id] for m in ready])
        for prepared, outcome in zip(ready, result.results, strict=True):
            if outcome.outcome is Outcome.REFUSED and outcome.quota is not None:
                quota = outcome.quota  # the plan, not the patient: left pending, never skipped
            elif outcome.outcome is Outcome.REFUSED:
                refused[prepared.recipient_id] = _REFUSAL_REASON.get(outcome.reason_code, SkipReason.REFUSED)
            elif outcome.message_id is not None:
                message_ids[prepared.recipient_id] = outcome.message_id
    batch.skipped.update(refused)
    sending.apply_batch_outcomes(actor=actor, campaign=campaign, batch=batch)
    sending.record_queued(actor=actor, campaign=campaign, message_ids=message_ids)
    if quota is not None:  # the dispatcher's next gate read sees the pause and stops
        lifecycle.pause_for_quota(actor=actor, campaign=campaign, quota=quota)
    return len(message_ids)


def _groups(ready: list[sending.PreparedMessage]):
    """SMS: one call for the chunk (each recipient its own body). WhatsApp templates: one call per
    template and parameter values (messaging's Content is shared by a call's recipients)."""
    texts = [m for m in ready if m.whatsapp_template_id is None]
    if texts:
        yield Content(), texts
    by_template: dict[tuple, list[sending.PreparedMessage]] = {}
    for m in ready:
        if m.whatsapp_template_id is not None:
            by_template.setdefault((m.whatsapp_template_id, m.language, m.parameters), []).append(m)
    if by_template:
        from messaging.models import WhatsAppTemplate

        templates = WhatsAppTemplate.objects.in_bulk({key[0] for key in by_template})
        for (template_id, _language, parameters), group in by_template.items():
            template = templates[template_id]
            spec = TemplateSpec(name=template.name, language=template.language, parameters=parameters)
            yield Content(body=group[0].body or None, template=spec), group


def sync_recipient_states(*, actor: Actor, campaign: Campaign) -> int:
    """Copy the messages' statuses onto the campaign's recipients in one statement (status
    callbacks move messages; the results page and completion read recipients)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    as_state = (Message.objects.filter(pk=OuterRef("message_id"))
                .annotate(mapped=Case(When(status__in=["failed", "undelivered"], then=Value("failed")),
                                      default=F("status")))
                .values("mapped")[:1])
    changed = (CampaignRecipient.objects
               .filter(campaign=campaign, message__isnull=False, state__in=_IN_FLIGHT)
               .annotate(message_state=Subquery(as_state)).exclude(state=F("message_state"))
               .exclude(message_state__in=["received", ""]))
    return CampaignRecipient.objects.filter(pk__in=changed.values("pk")).update(
        state=Subquery(as_state), updated_at=timezone.now())


def _what_next(actor: Actor, campaign: Campaign, queued: int) -> RunResult:
    sync_recipient_states(actor=actor, campaign=campaign)
    if not Campaign.objects.filter(pk=campaign.pk, fanout_done=True).exists():
        # The fan-out is still creating rows (or will be resumed): look again shortly.
        return RunResult("watching", queued, again_in=settings.CAMPAIGN_DISPATCH_WATCH_SECONDS)
    if lifecycle.complete_if_finished(actor=actor, campaign=campaign):
        return RunResult("completed", queued)
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    in_flight = rows.filter(state__in=[RecipientState.PENDING, RecipientState.QUEUED,
                                       RecipientState.SENDING]).exists()
    next_opening = rows.filter(state=RecipientState.DEFERRED).aggregate(at=Min("send_after"))["at"]
    watch = float(settings.CAMPAIGN_DISPATCH_WATCH_SECONDS)
    if in_flight or next_opening is None:
        return RunResult("watching", queued, again_in=watch)
    # Nothing on its way: wake at the next opening, at most CAMPAIGN_DISPATCH_MAX_WAIT_SECONDS
    # ahead (a broker re-delivers ETA tasks held past its visibility timeout). The heartbeat is
    # set to then, so the beat sweep hands the campaign on only if that task is lost.
    wait = min(max(0.0, (next_opening - timezone.now()).total_seconds()),
               float(settings.CAMPAIGN_DISPATCH_MAX_WAIT_SECONDS))
    Campaign.objects.filter(pk=campaign.pk).update(
        dispatch_heartbeat_at=timezone.now() + datetime.timedelta(seconds=wait))
    return RunResult("waiting", queued, again_in=wait)


def campaigns_needing_a_dispatcher(*, now: datetime.datetime) -> list[tuple[int, int]]:
    """(organisation id, campaign id) of running campaigns whose dispatcher has gone quiet:
    no heartbeat for CAMPAIGN_DISPATCH_STALE_SECONDS (its task was lost with a worker or broker).
    Ops sweep across organisations: ids only."""
    stale = now - datetime.timedelta(seconds=settings.CAMPAIGN_DISPATCH_STALE_SECONDS)
    from django.db.models import Q
    from django_scopes import scopes_disabled

    with scopes_disabled():  # ops sweep across organisations: ids only
        return list(Campaign.objects.filter(state=CampaignState.RUNNING)
                    .filter(Q(dispatch_heartbeat_at__lt=stale)
                            | Q(dispatch_heartbeat_at__isnull=True, started_at__lt=stale))
                    .values_list("organization_id", "pk"))
