"""`manage.py campaign_status --id N`: a campaign's state and recipient counts (no PHI).

Prints `name=value` lines so scripts can read them. An ops door: it finds the campaign
across organisations, then reads inside that organisation's scope as a system job.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django_scopes import scope

from campaigns import selectors
from campaigns.management.ops import campaign_for_ops


class Command(BaseCommand):
    help = "Show a campaign's state, kind and recipient counts by state (and skipped by reason)."

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, required=True, dest="campaign_id", help="The campaign's id")

    def handle(self, *args, campaign_id: int, **options):
        campaign, actor = campaign_for_ops(campaign_id, "campaign_status")
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
