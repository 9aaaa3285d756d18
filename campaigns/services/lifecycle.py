"""The campaign lifecycle: draft → scheduled → running ⇄ paused → completed / cancelled.

Every change is one conditional UPDATE (``WHERE state IN (<allowed from>)``), so two
people or workers racing can never both win, and the new state is visible to every worker
at once: the dispatcher reads ``selectors.dispatch_gate`` before each chunk and stops
sending as soon as a campaign is paused or cancelled. Billing is asked before a campaign is
scheduled and again when it starts (``campaigns.billing_gate``: the one call site).
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from functools import partial

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

import audit
from accounts.roles import Perm
from audit import AuditAction
from campaigns import billing_gate, contacts_access, partner_events
from campaigns.audience import AudienceEvaluator
from campaigns.errors import CampaignRefused, IllegalTransition
from campaigns.models import (
    OPEN_RECIPIENT_STATES,
    AudienceSource,
    Campaign,
    CampaignRecipient,
    CampaignState,
    RecipientState,
    TemplateVariant,
)
from campaigns.rendering import TemplateSyntaxError
from campaigns.services._access import require
from messaging.inbound import interest_changed
from messaging.models import Channel
from messaging.services.queueing import hand_off

S = CampaignState
# Which states each state may be reached from.
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    S.SCHEDULED: (S.DRAFT,),
    S.DRAFT: (S.SCHEDULED,),
    S.RUNNING: (S.SCHEDULED, S.PAUSED),
    S.PAUSED: (S.RUNNING,),
    S.COMPLETED: (S.RUNNING,),
    S.CANCELLED: (S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED),
}
_VERB = {S.SCHEDULED: "scheduled", S.DRAFT: "moved back to draft", S.RUNNING: "started or resumed",
         S.PAUSED: "paused", S.COMPLETED: "completed", S.CANCELLED: "cancelled"}
_NEXT_STEP = {
    S.DRAFT: "Schedule it or send it now first.",
    S.SCHEDULED: "It starts at its scheduled time; you can start it now, unschedule or cancel it.",
    S.RUNNING: "You can pause or cancel it.",
    S.PAUSED: "You can resume or cancel it.",
    S.COMPLETED: "It has finished: duplicate it to send again.",
    S.CANCELLED: "It was cancelled: create a new campaign to send again.",
}
# Recipients not yet handed to messaging (what a quota pause holds back).
WAITING_RECIPIENT_STATES = (RecipientState.PENDING, RecipientState.DEFERRED)
# Fresh enough to reuse for the billing check: counted after the campaign's last change.
COUNT_FRESHNESS = datetime.timedelta(minutes=15)


class PauseReason(StrEnum):
    STAFF = "staff"
    CHANNEL_INACTIVE = "channel_inactive"
    QUOTA = "quota"

    @property
    def message(self) -> str:
        return {
            PauseReason.STAFF: "Paused by staff.",
            PauseReason.CHANNEL_INACTIVE: "Paused because its channel was switched off: switch the "
                                          "channel on (Channels), then resume.",
            PauseReason.QUOTA: "Paused because the plan's segments ran out: upgrade the plan, then resume.",
        }[self]


def pause_message(campaign: Campaign) -> str:
    """Why the campaign is paused, for staff: the reason's sentence, with the plan's numbers
    when billing stopped it (``pause_detail``, stored by ``pause_for_quota``)."""
    try:
        reason = PauseReason(campaign.pause_reason)
    except ValueError:
        return ""
    detail = campaign.pause_detail or {}
    if reason is not PauseReason.QUOTA or not detail:
        return reason.message
    code = detail.get("code")
    if code == "subscription_past_due":
        return ("Paused because the organisation's statement is past due: an owner can pay it "
                "(Billing → Statements), then resume.")
    if code == "subscription_cancelled":
        return ("Paused because the organisation's subscription is cancelled: an owner can choose a "
                "plan (Billing), then resume.")
    return (f"Paused because the plan's segments ran out: the rest of this campaign needs "
            f"{detail.get('needed') or 0:,} segments; the plan includes {detail.get('included') or 0:,} and "
            f"{detail.get('remaining') or 0:,} remain this period. Upgrade the plan (Billing), then resume: "
            "the patients not yet sent are still waiting.")


def transition(campaign: Campaign, to: str, *, actor, action: AuditAction, detail: dict | None = None,
               **updates) -> Campaign:
    """Move ``campaign`` to state ``to`` if its current state allows it; refuse with a clear message."""
    now = timezone.now()
    with transaction.atomic():
        moved = (Campaign.objects.filter(pk=campaign.pk, state__in=ALLOWED_FROM[to])
                 .update(state=to, state_changed_at=now, updated_at=now, **updates))
        if not moved:
            current = Campaign.objects.filter(pk=campaign.pk).values_list("state", flat=True).first()
            label = S(current).label.lower() if current else "deleted"
            raise IllegalTransition(
                "illegal_transition",
                f"The campaign is {label}: it cannot be {_VERB[to]}. {_NEXT_STEP.get(current, '')}".strip())
        audit.record(action, target=campaign, actor=actor,
                     detail={"from": campaign.state, "to": str(to), **(detail or {})})
        # Whether patients' replies are listened for follows the state (campaigns.replies).
        interest_changed(campaign.organization_id)
        if to == S.COMPLETED:
            partner_events.announce_campaign_completed(campaign)
    campaign.refresh_from_db()
    return campaign


def check_ready(campaign: Campaign, *, actor) -> None:
    """Refuse a campaign that cannot send: channel off, no or broken variants, wrong variant kind."""
    channel = campaign.channel
    if not channel.is_active:
        raise CampaignRefused("channel_inactive",
                              f"The channel “{channel.name}” is switched off: switch it on or "
                              "choose another.")
    if campaign.audience_source == AudienceSource.TAGS and not contacts_access.tag_ids_of_organization(
            campaign.tag_ids or [], actor=actor):
        raise CampaignRefused("no_tags", "The campaign's audience is patients with tags, and none of its "
                                         "tags exists any more: choose tags again, or another audience.")
    variants = list(TemplateVariant.objects.filter(template_id=campaign.template_id))
    if not variants:
        raise CampaignRefused("no_variants", "The template has no text yet: write at least one language.")
    whatsapp = channel.kind == Channel.Kind.WHATSAPP
    for variant in variants:
        if whatsapp and not variant.whatsapp_template_id:
            raise CampaignRefused(
                "whatsapp_needs_template",
                f"WhatsApp only delivers approved templates to patients who have not written in 24 hours: "
                f"choose an approved WhatsApp template for the “{variant.language}” variant.")
        if whatsapp and variant.whatsapp_template.channel_id != channel.pk:
            raise CampaignRefused("whatsapp_template_channel",
                                  f"The “{variant.language}” variant's WhatsApp template belongs to another "
                                  "channel: choose one approved for this channel.")
        if not whatsapp and variant.whatsapp_template_id:
            raise CampaignRefused("sms_needs_body",
                                  f"The “{variant.language}” variant is a WhatsApp template: an SMS channel "
                                  "needs a text body.")


def _segments_needed(campaign: Campaign, *, actor) -> int:
    counted_at = campaign.audience_counted_at
    if (counted_at and counted_at >= campaign.updated_at - datetime.timedelta(seconds=1)
            and timezone.now() - counted_at < COUNT_FRESHNESS and campaign.audience_counts):
        return int(campaign.audience_counts.get("segments_total", 0))
    try:
        counts = AudienceEvaluator(campaign, actor=actor, now=timezone.now()).count()
    except TemplateSyntaxError as exc:
        raise CampaignRefused("template_syntax", f"The template no longer parses: {exc.message}") from None
    return counts.segments_total


def _ask_billing(campaign: Campaign, *, actor) -> int:
    segments = _segments_needed(campaign, actor=actor)
    billing_gate.check_campaign_segments(organization_id=campaign.organization_id, segments=segments)
    return segments


def schedule_campaign(*, actor, campaign: Campaign, send_at: datetime.datetime | None = None) -> Campaign:
    """Schedule a draft for ``send_at`` (aware, in the future), after billing said it fits."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    if send_at is not None and timezone.is_naive(send_at):
        raise CampaignRefused("send_at_naive", "The send time needs a time zone.")
    effective = send_at or campaign.send_at
    if effective is None:
        raise CampaignRefused("send_at_required", "Pick a date and time, or use “Send now”.")
    if effective <= timezone.now():
        raise CampaignRefused("send_at_past", "The send time has passed: pick a later time, or send now.")
    check_ready(campaign, actor=actor)
    segments = _ask_billing(campaign, actor=actor)
    updates = {"send_at": send_at} if send_at is not None else {}
    return transition(campaign, S.SCHEDULED, actor=actor, action=AuditAction.CAMPAIGN_SCHEDULED,
                      detail={"segments": segments}, **updates)


def unschedule_campaign(*, actor, campaign: Campaign) -> Campaign:
    """Take a scheduled campaign back to draft (to edit it at leisure)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    return transition(campaign, S.DRAFT, actor=actor, action=AuditAction.CAMPAIGN_UNSCHEDULED)


def start_campaign(*, actor, campaign: Campaign) -> Campaign:
    """Start now: a draft is scheduled for now first; billing is asked, then the fan-out is
    handed to a worker (``campaigns.tasks.fan_out_campaign``) once the state change commits."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    check_ready(campaign, actor=actor)
    segments = _ask_billing(campaign, actor=actor)
    if campaign.state == S.DRAFT:
        campaign = transition(campaign, S.SCHEDULED, actor=actor, action=AuditAction.CAMPAIGN_SCHEDULED,
                              detail={"segments": segments}, send_at=timezone.now())
    if campaign.state == S.PAUSED:
        raise IllegalTransition("illegal_transition", "The campaign is paused: resume it instead.")
    now = timezone.now()
    with transaction.atomic():
        campaign = transition(campaign, S.RUNNING, actor=actor, action=AuditAction.CAMPAIGN_STARTED,
                              detail={"segments": segments}, started_at=now, pause_reason="",
                              pause_detail={})
        from campaigns import tasks

        org_id, campaign_id = campaign.organization_id, campaign.pk
        transaction.on_commit(lambda: tasks.fan_out_campaign.delay(org_id=org_id, campaign_id=campaign_id))
    return campaign


def pause_campaign(*, actor, campaign: Campaign, reason: PauseReason = PauseReason.STAFF,
                   numbers: dict | None = None) -> Campaign:
    """Stop sending at once (every worker checks the state before each chunk); resumable.
    ``numbers``: counts behind the pause (no PHI), kept for staff and in the audit event."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    return transition(campaign, S.PAUSED, actor=actor, action=AuditAction.CAMPAIGN_PAUSED,
                      detail={"reason": str(reason), **(numbers or {})}, pause_reason=str(reason),
                      pause_detail=numbers or {})


def resume_campaign(*, actor, campaign: Campaign) -> Campaign:
    """Continue a paused campaign (refused while its channel is still switched off)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    if not Channel.objects.filter(pk=campaign.channel_id, is_active=True).exists():
        raise CampaignRefused("channel_inactive",
                              "Its channel is still switched off: switch it on (Channels), then resume.")
    with transaction.atomic():
        campaign = transition(campaign, S.RUNNING, actor=actor, action=AuditAction.CAMPAIGN_RESUMED,
                              pause_reason="", pause_detail={})
        from campaigns import tasks

        org_id, campaign_id = campaign.organization_id, campaign.pk
        transaction.on_commit(lambda: tasks.dispatch_campaign.delay(org_id=org_id, campaign_id=campaign_id))
        # Messages queued before the pause were held by the send gate (campaigns/send_gate.py):
        # they go now, not at their next re-check.
        held = list(CampaignRecipient.objects.filter(
            campaign=campaign, state=RecipientState.QUEUED, message__status="queued")
            .values_list("message_id", flat=True))
        if held:
            transaction.on_commit(partial(hand_off, org_id, campaign.channel_id, held))
    return campaign


def cancel_campaign(*, actor, campaign: Campaign) -> Campaign:
    """Stop for good: nothing more is sent; what was sent stays in its history."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    return transition(campaign, S.CANCELLED, actor=actor, action=AuditAction.CAMPAIGN_CANCELLED,
                      finished_at=timezone.now())


def pause_if_channel_inactive(*, actor, campaign: Campaign) -> bool:
    """Pause a running campaign whose channel was switched off, saying why; True if it did.
    The dispatcher calls this before each chunk."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    if Channel.objects.filter(pk=campaign.channel_id, is_active=True).exists():
        return False
    try:
        pause_campaign(actor=actor, campaign=campaign, reason=PauseReason.CHANNEL_INACTIVE)
    except IllegalTransition:
        return False
    return True


def pause_for_quota(*, actor, campaign: Campaign, quota: dict) -> bool:
    """Pause a running campaign the plan stopped mid-send (messaging's refusal carried billing's
    numbers, ``quota``); True if it did. Its unsent recipients stay open, sent after a resume.
    ``needed`` is what the rest of the campaign needs (one aggregate), not the refused chunk's."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    needed = (CampaignRecipient.objects.filter(campaign=campaign, state__in=WAITING_RECIPIENT_STATES)
              .aggregate(total=Sum("segments"))["total"]) or int(quota.get("needed") or 0)
    numbers = {"code": str(quota.get("code") or ""), "needed": int(needed),
               "included": int(quota.get("included") or 0), "used": int(quota.get("used") or 0),
               "remaining": int(quota.get("remaining") or 0)}
    try:
        pause_campaign(actor=actor, campaign=campaign, reason=PauseReason.QUOTA, numbers=numbers)
    except IllegalTransition:  # paused or cancelled meanwhile: that holds the rest already
        return False
    return True


def complete_if_finished(*, actor, campaign: Campaign) -> bool:
    """Mark a running campaign completed once fanned out with no recipient left to send."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    campaign.refresh_from_db()
    if campaign.state != S.RUNNING or not campaign.fanout_done:
        return False
    if CampaignRecipient.objects.filter(campaign=campaign, state__in=OPEN_RECIPIENT_STATES).exists():
        return False
    try:
        transition(campaign, S.COMPLETED, actor=actor, action=AuditAction.CAMPAIGN_COMPLETED,
                   finished_at=timezone.now())
    except IllegalTransition:
        return False
    return True
