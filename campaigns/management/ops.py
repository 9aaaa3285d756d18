"""What the campaign management commands share: the campaign an operator names by id."""

from __future__ import annotations

from django.core.management.base import CommandError
from django_scopes import scopes_disabled

from accounts.actor import Actor
from campaigns.models import Campaign


def campaign_for_ops(campaign_id: int, job: str) -> tuple[Campaign, Actor]:
    """The campaign (with its organisation) and a system actor ``ops:<job>`` of its organisation."""
    # Ops commands name a campaign by id, whichever organisation it belongs to.
    with scopes_disabled():  # ops: any organisation's campaign by id
        campaign = Campaign.objects.select_related("organization").filter(pk=campaign_id).first()
    if campaign is None:
        raise CommandError(f"No campaign with id {campaign_id}: check the id in the campaign's page address.")
    return campaign, Actor.system(f"ops:{job}", organization_id=campaign.organization_id)
