"""Patients' replies to campaign messages, heard through messaging's inbound hook.

``record_reply`` is registered in ``CampaignsConfig.ready`` with
``messaging.inbound.register_inbound_handler``. An inbound message from a patient on the
channel a campaign messaged them on, within CAMPAIGN_REPLY_WINDOW_DAYS of that message, marks
the latest such recipient replied (the first reply counts); a STOP also counts in that
campaign's opt-out rate. The reply lands in the inbox conversation, and the campaign's
message joins that thread, just above it. Idempotent: a re-delivered event changes nothing.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignState
from messaging.inbound import InboundEvent
from messaging.models import Message


def expects_replies(organization_id: int) -> bool:
    """The inbound hook's interest: a campaign is sending, or ended within the reply window.

    ``lifecycle.transition`` reports every state change (messaging.inbound.interest_changed).
    """
    since = timezone.now() - datetime.timedelta(days=settings.CAMPAIGN_REPLY_WINDOW_DAYS)
    sending = Q(state__in=[CampaignState.RUNNING, CampaignState.PAUSED])
    ended_lately = Q(state__in=[CampaignState.COMPLETED, CampaignState.CANCELLED],
                     state_changed_at__gte=since)
    return Campaign.objects.filter(sending | ended_lately, organization_id=organization_id).exists()


def record_reply(event: InboundEvent) -> None:
    """Mark the campaign recipient this inbound message answers (ids only; see module docstring)."""
    if event.contact_id is None:
        return
    since = timezone.now() - datetime.timedelta(days=settings.CAMPAIGN_REPLY_WINDOW_DAYS)
    recipient = (CampaignRecipient.objects
                 .filter(contact_id=event.contact_id, message__isnull=False,
                         message__channel_id=event.channel_id, message__created_at__gte=since,
                         message__created_at__lte=timezone.now())
                 .order_by("-message__created_at").only("pk", "message_id").first())
    if recipient is None:
        return
    if event.conversation_id is not None:
        # Campaign messages are stored outside any thread (a campaign must not open 100,000 inbox
        # conversations); the patient's answer opens one: the message it answers joins it, so
        # staff read the reply under the campaign's message.
        Message.objects.filter(pk=recipient.message_id, conversation__isnull=True).update(
            conversation_id=event.conversation_id)
    rows = CampaignRecipient.objects.filter(pk=recipient.pk)
    rows.filter(replied_at__isnull=True).update(replied_at=timezone.now(), reply_message_id=event.message_id,
                                                updated_at=timezone.now())
    if (event.keyword or "").lower() == "stop":
        rows.filter(~Q(opted_out_by_reply=True)).update(opted_out_by_reply=True, updated_at=timezone.now())
