"""CSV of one month's usage for every organisation (ops): plan, messages, segments, caps.

The month is the calendar month in each organisation's own time zone, the way it is billed.
"""

import csv
import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scopes_disabled

from accounts.models import Organization
from billing import usage_counts
from billing.models import Subscription
from billing.periods import next_month_start
from billing.selectors import month_usage


class Command(BaseCommand):
    help = "Write a CSV of every organisation's usage in --month YYYY-MM to standard output (or --output)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="The month, as YYYY-MM.")
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, month: str, output: str | None = None, **options):
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
            raise CommandError("Give the month as YYYY-MM, for example --month 2026-11.")
        start = date(int(month[:4]), int(month[5:]), 1)
        end = next_month_start(start)
        stream = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        try:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(["organization_id", "organization", "plan", "status", "outbound_messages",
                             "outbound_segments", "included_segments", "overage_segments", "inbound_messages",
                             "contacts", "channels"])
            with scopes_disabled():  # ops: one report across every organisation (counts only)
                subscriptions = {s.organization_id: s for s in Subscription.objects.select_related("plan")}
                organizations = list(Organization.objects.order_by("pk"))
                for org in organizations:
                    sub = subscriptions.get(org.pk)
                    totals = month_usage(org.pk, start, end)
                    included = sub.plan.included_segments if sub else 0
                    writer.writerow([
                        org.pk, org.name, sub.plan.code if sub else "", sub.status if sub else "",
                        totals["outbound_messages"], totals["outbound_segments"], included,
                        max(totals["outbound_segments"] - included, 0), totals["inbound_messages"],
                        usage_counts.count(usage_counts.CONTACTS, org.pk),
                        usage_counts.count(usage_counts.CHANNELS, org.pk)])
        finally:
            if output:
                stream.close()
