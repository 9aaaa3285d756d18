"""`manage.py campaign_status --id N`: a campaign's state and recipient counts (no PHI).

Prints `name=value` lines so scripts can read them. An ops door: it finds the campaign
across organisations, then reads inside that organisation's scope as a system job.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope, scopes_disabled

from accounts.actor import Actor
from campaigns import selectors
from campaigns.models import Campaign


class Command(BaseCommand):
    help = "Show a campaign's state, kind and recipient counts by state (and skipped by reason)."

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, required=True, dest="campaign_id", help="The campaign's id")

    def handle(self, *args, campaign_id: int, **options):
        # Ops command: the operator names a campaign by id, whichever organisation it belongs to.
        with scopes_disabled():  # ops: any organisation's campaign by id
            campaign = Campaign.objects.select_related("organization").filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"No campaign with id {campaign_id}: "
                               "check the id in the campaign's page address.")
        actor = Actor.system("ops:campaign_status", organization_id=campaign.organization_id)
        with scope(organization=campaign.organization):
            campaign = selectors.get_campaign(actor=actor, campaign_id=campaign_id)
            counts = selectors.recipient_counts(actor=actor, campaign=campaign)
        lines = [f"id={campaign.pk}", f"organization_id={campaign.organization_id}", f"kind={campaign.kind}",
                 f"state={campaign.state}", f"pause_reason={campaign.pause_reason}",
                 f"fanout_done={str(campaign.fanout_done).lower()}"]
        skipped = counts.pop("skipped_by_reason")
        lines += [f"{state}={n}" for state, n in counts.items()]
        lines += [f"skipped_{reason}={n}" for reason, n in sorted(skipped.items())]
        self.stdout.write("\n".join(lines))
