"""A campaign recipient left "unknown — check" follows staff's settlement of its message: the
results count it as sent once staff say it went out or send it again, never twice."""

from __future__ import annotations

import pytest
import time_machine

from campaigns import results
from campaigns.models import CampaignRecipient
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from messaging.services import dispatch as messaging_dispatch
from messaging.services.unknown_sends import settle_unknown_send
from tests.campaigns.test_dispatching import NOON, dispatch, running

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_channel(sms_channel):
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    get_rate_limiter().reset(sms_channel.pk)


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("settlement,counted", [("went_out", "sent"), ("send_again", "sent"),
                                                ("not_sent", "failed")])
def test_settling_the_message_moves_the_recipient_out_of_unknown(
        make_campaign, make_contact, admin_actor, settlement, counted, django_capture_on_commit_callbacks):
    make_contact()
    campaign = running(make_campaign())
    dispatch(campaign, django_capture_on_commit_callbacks)
    message = Message.objects.get(origin="campaign")
    messaging_dispatch.mark_unknown(message, "no answer")  # an interrupted send the provider can't confirm
    assert dispatch(campaign, django_capture_on_commit_callbacks).outcome == "completed"
    assert results.progress(actor=admin_actor, campaign=campaign).counts["unknown"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        settle_unknown_send(actor=admin_actor, message_id=message.pk, settlement=settlement)
    counts = results.progress(actor=admin_actor, campaign=campaign).counts
    assert counts["unknown"] == 0 and counts[counted] == 1
    assert Message.objects.filter(origin="campaign").count() == 1  # one message, never a second
    assert CampaignRecipient.objects.count() == 1
