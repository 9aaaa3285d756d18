"""Campaigns' and the intake bot's events for partner webhooks (accounts.event_webhooks).

Ids and counts only by default; the answers of a submission are never in a payload (a partner
reads them through the export, where the read is audited)."""

from __future__ import annotations

from django.db.models import Count

from accounts.event_webhooks.events import emit, register_event_type

CAMPAIGN_COMPLETED = register_event_type(
    "campaign.completed", "A campaign has no recipient left to send: its recipients counted by state.")
INTAKE_COMPLETED = register_event_type(
    "intake.completed", "A patient finished a questionnaire: the submission's ids (no answers).")


def announce_campaign_completed(campaign) -> int:
    """``campaign.completed`` once per campaign, inside the transition's transaction."""
    from campaigns.models import CampaignRecipient

    counts = dict(CampaignRecipient.objects.filter(campaign_id=campaign.pk).values_list("state")
                  .annotate(n=Count("pk")).values_list("state", "n"))
    return emit(organization_id=campaign.organization_id, event_type=CAMPAIGN_COMPLETED.name,
                key=str(campaign.pk), data={
        "campaign_id": campaign.pk, "kind": campaign.kind, "channel_id": campaign.channel_id,
        "recipients": sum(counts.values()), "by_state": dict(sorted(counts.items())),
    })


def announce_intake_completed(submission) -> int:
    """``intake.completed`` once per submission, in the transaction that stored it."""
    return emit(organization_id=submission.organization_id, event_type=INTAKE_COMPLETED.name,
                key=str(submission.pk), data={
        "submission_id": submission.pk, "questionnaire_id": submission.questionnaire_id,
        "version": submission.version.number, "contact_id": submission.contact_id,
        "session_id": submission.session_id, "answers": len(submission.answers),
        "submitted_at": submission.submitted_at.isoformat(),
    })
