"""A campaign that starts a questionnaire: once a patient's campaign message has gone out (the
provider accepted it), they are sent the questionnaire's first question (an intake session
``via="campaign"``), and their answer is handled by the intake engine like any other.

Heard through messaging's after-sent hook (messaging/outbound_gates.py, registered with the
campaigns' send gate), once per sent batch, so the question never goes to a patient whose
campaign message was withdrawn (campaign cancelled), held (paused, night-time) or refused by the
provider, and never overtakes it. Only messages the send gate marked (``Notify``: their campaign
has a questionnaire) are handed here, so other campaigns pay nothing. Per sent batch: one read
of their recipients (campaign still running), then per campaign one read
of the questionnaire (switched off since: nobody is started) and one of the patients already
answering one on the channel (they keep theirs); then one session start per patient (its own
transaction, lock and audit event, as staff starting one). Quiet hours need no check of their
own: the campaign message was just sent inside the patient's window, and the question follows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from campaigns.intake import services as intake_services
from campaigns.intake.models import IntakeSession, Questionnaire
from campaigns.models import Campaign, CampaignRecipient, CampaignState

if TYPE_CHECKING:
    from contacts.models import Contact

logger = logging.getLogger(__name__)


def start_sessions(*, actor, campaign: Campaign, contacts: Sequence[Contact]) -> int:
    """Start the campaign's questionnaire for ``contacts`` (just queued); returns how many started."""
    questionnaire = (Questionnaire.objects.select_related("current_version")
                     .filter(pk=campaign.questionnaire_id, is_active=True, deleted_at__isnull=True).first())
    if questionnaire is None or not contacts:
        return 0
    answering = set(IntakeSession.objects.filter(
        channel_id=campaign.channel_id, contact_id__in=[c.pk for c in contacts],
        status=IntakeSession.Status.ACTIVE).values_list("contact_id", flat=True))
    started = 0
    for contact in contacts:
        if contact.pk in answering:
            continue  # one session per patient and channel: theirs goes on
        try:
            intake_services.start_for_contact(questionnaire=questionnaire, contact_id=contact.pk,
                                              contact=contact, channel=campaign.channel, actor=actor,
                                              via=IntakeSession.Via.CAMPAIGN)
        except intake_services.IntakeError as refused:
            # Ids and a code only (opted out meanwhile, a session started since the read above).
            logger.info("campaign %s: questionnaire not started for contact %s (%s)",
                        campaign.pk, contact.pk, refused.code)
            continue
        started += 1
    return started


def start_after_sent(messages: Sequence) -> int:
    """messaging's after-sent hook for campaign messages: start the questionnaire of each running
    campaign that has one for the patients of ``messages`` (just accepted by the provider)."""
    from campaigns.dispatching import dispatcher_actor

    by_id = {message.pk: message for message in messages}
    rows = (CampaignRecipient.objects
            .filter(message_id__in=list(by_id), campaign__state=CampaignState.RUNNING,
                    campaign__questionnaire__isnull=False)
            .values_list("campaign_id", "message_id"))
    by_campaign: dict[int, list] = {}
    for campaign_id, message_id in rows:
        by_campaign.setdefault(campaign_id, []).append(by_id[message_id].contact)
    started = 0
    for campaign in Campaign.objects.select_related("channel").filter(pk__in=list(by_campaign)):
        started += start_sessions(actor=dispatcher_actor(campaign.organization_id), campaign=campaign,
                                  contacts=by_campaign[campaign.pk])
    return started
