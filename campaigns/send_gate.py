"""Campaigns' say on their messages at the moment messaging is about to send them
(messaging/outbound_gates.py; registered in campaigns/apps.py).

A campaign message is queued only inside its patient's sending window and while the campaign
runs, but it can wait in messaging a long while after that: a provider answering 429/5xx is
retried with backoff for up to an hour, and CAMPAIGN_DISPATCH_AHEAD_SECONDS of the channel's
rate is always queued ahead. So just before the send (one statement per batch):

- the campaign was cancelled: the message is withdrawn (failed, "campaign_cancelled"), and its
  recipient marked failed with it (a cancelled campaign's dispatcher no longer copies states);
- the campaign is paused: held; a resume hands them back at once (services/lifecycle.py), and
  they are looked at again every ``PAUSED_RECHECK`` anyway, should that hand-off be lost;
- the patient's window has closed (it is night where they are): held until it opens again —
  never sent in their night, never dropped;
- it goes, and its campaign has a questionnaire: messaging is asked to say once it is out
  (``Notify``), for campaigns/questionnaire_start.py to send the first question after it.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from campaigns import quiet_hours
from campaigns.models import CampaignRecipient, CampaignSettings, CampaignState, RecipientState
from messaging.outbound_gates import Hold, Notify, Verdict, Withdraw

# A paused campaign's held messages are looked at again this often (a pause may last days; the
# resume itself hands them back): a few tasks every ten minutes, within the scheduling horizon.
PAUSED_RECHECK = datetime.timedelta(minutes=10)
CANCELLED_TEXT = "The campaign was cancelled before this message went out: nothing was sent."


def campaign_send_gate(messages: list) -> dict[int, Verdict]:
    """Verdicts on campaign messages about to be sent (see the module docstring)."""
    by_id = {message.pk: message for message in messages}
    rows = (CampaignRecipient.objects.filter(message_id__in=list(by_id))
            .values_list("message_id", "campaign__state", "campaign__send_window_start",
                         "campaign__send_window_end", "campaign__organization__timezone",
                         "campaign__questionnaire_id"))
    now = timezone.now()
    found: dict[int, Verdict] = {}
    organization_window = None
    for message_id, state, start, end, organization_tz, questionnaire_id in rows:
        if state == CampaignState.CANCELLED:
            found[message_id] = Withdraw("campaign_cancelled", CANCELLED_TEXT)
            continue
        if state == CampaignState.PAUSED:
            found[message_id] = Hold(now + PAUSED_RECHECK)
            continue
        if organization_window is None and (start is None or end is None):
            organization_window = CampaignSettings.window_of(by_id[message_id].organization_id)
        window = quiet_hours.window_or(start, end, organization_window)
        contact = by_id[message_id].contact
        zone = quiet_hours.zone(getattr(contact, "timezone", ""), organization_tz or "UTC")
        opening = quiet_hours.next_send_time(now, zone, window)
        if opening > now:
            found[message_id] = Hold(opening)
        elif questionnaire_id is not None:  # its first question follows once this is out
            found[message_id] = Notify()
    withdrawn = [pk for pk, verdict in found.items() if isinstance(verdict, Withdraw)]
    if withdrawn:
        CampaignRecipient.objects.filter(message_id__in=withdrawn).update(
            state=RecipientState.FAILED, updated_at=now)
    return found

