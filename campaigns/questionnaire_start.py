"""A campaign that starts a questionnaire: once a chunk's messages are queued, each of those
patients is sent the questionnaire's first question (an intake session ``via="campaign"``), and
their answer is handled by the intake engine like any other.

Called by ``dispatching.send_chunk`` only for a campaign with a questionnaire, so other
campaigns pay nothing. Per chunk: one read of the questionnaire (switched off since the
campaign started: nobody is started) and one of the patients already answering one on the
channel (they keep theirs); then one session start per patient (its own transaction, lock and
audit event, as staff starting one). Quiet hours need no check of their own: the campaign's
message was only queued inside the patient's sending window, and the question follows it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from campaigns.intake import services as intake_services
from campaigns.intake.models import IntakeSession, Questionnaire
from campaigns.models import Campaign

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
