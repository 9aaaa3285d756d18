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
    # The chain's next link: the dispatcher (a second one while another runs steps aside).
    dispatch_campaign.delay(org_id=org_id, campaign_id=campaign_id)
    return sum(counts.values())


# Re-tries of a run that found another worker's run holding the campaign (a resume while the
# previous run was still finishing): then the holder may be about to stop, so ask again.
BUSY_RETRIES = 12
BUSY_RETRY_SECONDS = 5.0


@shared_task(base=OrgTask, bind=True, name="campaigns.dispatch_campaign", acks_late=True)
def dispatch_campaign(self, *, org_id: int, campaign_id: int, after_id: int = 0, busy: int = 0) -> str:
    """One run of the campaign's dispatcher (campaigns.dispatching), then the next link of the
    chain: at once (its time budget ran out), at the next deferred opening, or a short watch
    while messages are on their way, until the campaign completes, pauses or is cancelled."""
    from campaigns.dispatching import dispatcher_actor, run_dispatch

    result = run_dispatch(actor=dispatcher_actor(org_id), campaign_id=campaign_id, after_id=after_id)
    kwargs = {"org_id": org_id, "campaign_id": campaign_id}
    if result.outcome == "busy":
        if busy < BUSY_RETRIES and not self.request.is_eager:
            dispatch_campaign.apply_async(kwargs={**kwargs, "busy": busy + 1}, countdown=BUSY_RETRY_SECONDS)
        return result.outcome
    if result.again_in is not None and not self.request.is_eager:
        # The lock is released by now, so the next run can take it.
        dispatch_campaign.apply_async(kwargs={**kwargs, "after_id": result.after_id},
                                      countdown=result.again_in or None)
    elif result.again_in == 0.0 and self.request.is_eager:
        # Embedded mode: the next chunk runs in this process (no broker, nothing to hand to).
        return dispatch_campaign(org_id=org_id, campaign_id=campaign_id, after_id=result.after_id)
    return result.outcome


@shared_task(name="campaigns.resume_quiet_dispatchers")
def resume_quiet_dispatchers() -> int:
    """Beat sweep: a running campaign whose dispatcher stopped beating (its task was lost with a
    killed worker or a restarted broker) gets a new run; the lock makes a spare run harmless."""
    import audit
    from audit import AuditAction
    from campaigns.dispatching import campaigns_needing_a_dispatcher

    quiet = campaigns_needing_a_dispatcher(now=timezone.now())
    for org_id, campaign_id in quiet:
        audit.record_many([audit.AuditEntry(AuditAction.CAMPAIGN_DISPATCH_RESUMED,
                                            detail={"campaign_id": campaign_id})],
                          organization=org_id, actor=Actor.system("campaign-sweeper", organization_id=org_id))
        dispatch_campaign.delay(org_id=org_id, campaign_id=campaign_id)
    return len(quiet)


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
    with scopes_disabled():  # ops sweep (see above)
        due = list(Campaign.objects.filter(state=CampaignState.SCHEDULED, send_at__lte=timezone.now())
                   .values_list("organization_id", "pk"))
    for org_id, campaign_id in due:
        start_scheduled_campaign.delay(org_id=org_id, campaign_id=campaign_id)
    return len(due)
