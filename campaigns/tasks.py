"""Celery tasks of campaigns: ids only, the organisation's scope (OrgTask), acked late, safe twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.actor import Actor
from accounts.tenancy import OrgTask
from campaigns.models import Campaign, CampaignState

FANOUT_JOB = "campaign-fanout"
SCHEDULER_JOB = "campaign-scheduler"


@shared_task(base=OrgTask, name="campaigns.fan_out_campaign", acks_late=True)
def fan_out_campaign(*, org_id: int, campaign_id: int) -> int:
    """Create a started campaign's recipient rows (resumes from its cursor if run again)."""
    from campaigns.fanout import fan_out

    counts = fan_out(actor=Actor.system(FANOUT_JOB, organization_id=org_id), campaign_id=campaign_id)
    return sum(counts.values())


@shared_task(base=OrgTask, name="campaigns.start_scheduled_campaign", acks_late=True)
def start_scheduled_campaign(*, org_id: int, campaign_id: int) -> str:
    """Start one scheduled campaign whose time has come (a second run finds it running: no-op)."""
    from campaigns.errors import CampaignRefused
    from campaigns.services.lifecycle import start_campaign

    campaign = Campaign.objects.filter(pk=campaign_id, state=CampaignState.SCHEDULED,
                                       send_at__lte=timezone.now()).first()
    if campaign is None:
        return "not_due"
    try:
        start_campaign(actor=Actor.system(SCHEDULER_JOB, organization_id=org_id), campaign=campaign)
    except CampaignRefused as exc:
        return exc.code
    return "started"


@shared_task(name="campaigns.start_due_campaigns")
def start_due_campaigns() -> int:
    """Beat sweep: hand every scheduled campaign whose send time has passed to its own task."""
    # Ops sweep across organisations: it reads ids only and each start runs in its org's scope.
    with scopes_disabled():
        due = list(Campaign.objects.filter(state=CampaignState.SCHEDULED, send_at__lte=timezone.now())
                   .values_list("organization_id", "pk"))
    for org_id, campaign_id in due:
        start_scheduled_campaign.delay(org_id=org_id, campaign_id=campaign_id)
    return len(due)
