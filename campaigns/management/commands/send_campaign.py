"""`manage.py send_campaign --id N`: start (or resume) a campaign now — the same service as the
page's "Send now" button and the admin action — and print its state (`name=value` lines).

An ops door: it finds the campaign across organisations, then acts inside that organisation's
scope as a system job. ``--wait`` follows it until it completes (or pauses, or is cancelled).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from campaigns import results, selectors
from campaigns.errors import CampaignRefused
from campaigns.management.ops import campaign_for_ops
from campaigns.models import CampaignState
from campaigns.services import lifecycle


class Command(BaseCommand):
    help = "Send a campaign now (a paused one is resumed); billing is asked first, as on the page."

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, required=True, dest="campaign_id", help="The campaign's id")
        parser.add_argument("--wait", action="store_true", help="Follow the campaign until it finishes")

    def handle(self, *args, campaign_id: int, wait: bool = False, **options):
        campaign, actor = campaign_for_ops(campaign_id, "send_campaign")
        with scope(organization=campaign.organization):
            campaign = selectors.get_campaign(actor=actor, campaign_id=campaign_id)
            service = (lifecycle.resume_campaign if campaign.state == CampaignState.PAUSED
                       else lifecycle.start_campaign)
            try:
                campaign = service(actor=actor, campaign=campaign)
            except CampaignRefused as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"id={campaign.pk}\nstate={campaign.state}")
            while wait:
                progress = results.progress(actor=actor, campaign=campaign)
                self.stdout.write(f"percent={progress.percent}")
                if progress.state != CampaignState.RUNNING:
                    self.stdout.write(f"state={progress.state}")
                    break
                time.sleep(2)
