"""Progress and results: the polled progress, the funnel, the audited recipient list and export,
replies and STOPs counted, and the doors (command, admin) onto the same services."""

from __future__ import annotations

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from audit import AuditAction
from audit.models import AuditEvent
from campaigns.dispatching import dispatcher_actor, run_dispatch
from campaigns.fanout import fan_out
from campaigns.models import Campaign, CampaignRecipient
from campaigns.replies import record_reply
from messaging.inbound import InboundEvent, inbound_handlers
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=datetime.UTC)
BACKGROUND = {"HTTP_X_CARERELAY_BACKGROUND": "1"}


@pytest.fixture(autouse=True)
def _fast_channel(sms_channel):
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    get_rate_limiter().reset(sms_channel.pk)


@pytest.fixture
def admin_client(tenant_a, org_scope):
    return tenant_a.client_for("admin")


def sent_campaign(make_campaign, capture):
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
    actor = dispatcher_actor(campaign.organization_id)
    fan_out(actor=actor, campaign_id=campaign.pk)
    with capture(execute=True):
        run_dispatch(actor=actor, campaign_id=campaign.pk)
    with capture(execute=True):
        run_dispatch(actor=actor, campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


@time_machine.travel(NOON, tick=False)
def test_the_progress_poll_counts_every_state_and_reaches_100_percent(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks):
    make_contact(first_name="Ada")
    make_contact(first_name="Grace")
    make_contact(phone="")  # skipped: no number
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    Message.objects.filter(pk=Message.objects.order_by("pk").first().pk).update(status="delivered")
    response = admin_client.get(reverse("campaigns:progress", args=[campaign.pk]), **BACKGROUND)
    data = response.json()
    assert response.status_code == 200 and data["state"] == "completed" and data["percent"] == 100
    assert data["counts"]["sent"] == 1 and data["counts"]["delivered"] == 1 and data["counts"]["skipped"] == 1
    assert data["skipped_by_reason"] == {"no_number": 1}
    funnel = {stage["key"]: stage["count"] for stage in data["funnel"]}
    assert funnel == {"recipients": 2, "queued": 2, "sent": 2, "delivered": 1, "read": 0, "replied": 0}
    assert "Ada" not in response.content.decode()  # counts only: no PHI in the poll


@time_machine.travel(NOON, tick=False)
def test_the_campaign_page_shows_the_bar_and_the_funnel_without_inline_script_or_style(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks):
    make_contact()
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    page = admin_client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'data-testid="progress-bar"' in page and 'value="100"' in page
    assert 'data-testid="funnel"' in page and 'data-stage="delivered"' in page
    assert "js/campaigns-progress.js" in page
    assert "style=" not in page and "<script>" not in page and "onclick" not in page


@time_machine.travel(NOON, tick=False)
def test_the_recipient_list_is_an_audited_read_and_explains_unknown(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks, tenant_a):
    make_contact(first_name="Ada")
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    Message.objects.update(status="unknown")
    page = admin_client.get(reverse("campaigns:recipients", args=[campaign.pk])).content.decode()
    assert "Ada" in page and 'data-testid="unknown-row"' in page and "did not send it again" in page
    event = AuditEvent.objects.get(action=AuditAction.CAMPAIGN_RECIPIENTS_VIEWED)
    assert event.target_id == str(campaign.pk) and event.detail["rows"] == 1 and event.detail["identities"]
    viewer = tenant_a.client_for("viewer")
    assert viewer.get(reverse("campaigns:progress", args=[campaign.pk])).status_code == 200


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_export_neutralises_formulas_and_is_audited_when_complete(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks, file_format):
    make_contact(first_name="=HYPERLINK(\"http://evil\")")
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    response = admin_client.post(reverse("campaigns:export", args=[campaign.pk]), {"format": file_format})
    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    if file_format == "csv":
        text = body.decode("utf-8-sig")
        assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    else:
        import zipfile

        sheet = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml").decode()
        assert "&apos;=HYPERLINK" in sheet or "'=HYPERLINK" in sheet
        assert "+1415555" in sheet  # the number keeps its +
    event = AuditEvent.objects.get(action=AuditAction.CAMPAIGN_RECIPIENTS_EXPORTED)
    assert event.detail == {"rows": 1, "format": file_format}


@time_machine.travel(NOON, tick=False)
def test_a_reply_marks_the_recipient_and_a_stop_counts_in_the_opt_out_rate(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks, sms_channel):
    assert record_reply in inbound_handlers()  # registered by CampaignsConfig.ready
    talker, leaver = make_contact(), make_contact()
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    for contact, keyword in ((talker, None), (leaver, "stop")):
        inbound = Message.objects.create(organization=campaign.organization, channel=sms_channel,
                                         contact=contact, direction="inbound", origin="patient",
                                         status="received", body="hello")
        event = InboundEvent(organization_id=campaign.organization_id, channel_id=sms_channel.pk,
                             message_id=inbound.pk, conversation_id=None, contact_id=contact.pk,
                             keyword=keyword)
        record_reply(event)
        record_reply(event)  # a re-delivered task changes nothing
    # No thread was given with the events, so the messages stay outside the inbox.
    assert Message.objects.filter(origin="campaign", conversation__isnull=True).count() == 2
    replied = CampaignRecipient.objects.get(contact=talker)
    assert replied.replied_at and not replied.opted_out_by_reply and replied.reply_message_id
    assert CampaignRecipient.objects.get(contact=leaver).opted_out_by_reply
    data = admin_client.get(reverse("campaigns:progress", args=[campaign.pk]), **BACKGROUND).json()
    assert data["replied"] == 2 and data["opted_out"] == 1 and data["opt_out_rate"] == 50.0


@time_machine.travel(NOON, tick=False)
def test_a_reply_outside_the_window_or_on_another_channel_is_not_counted(
        make_campaign, make_contact, django_capture_on_commit_callbacks, sms_channel, settings):
    contact = make_contact()
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    event = InboundEvent(organization_id=campaign.organization_id, channel_id=sms_channel.pk + 999,
                         message_id=1, conversation_id=None, contact_id=contact.pk)
    record_reply(event)
    with time_machine.travel(NOON + datetime.timedelta(days=settings.CAMPAIGN_REPLY_WINDOW_DAYS + 1)):
        record_reply(InboundEvent(organization_id=campaign.organization_id, channel_id=sms_channel.pk,
                                  message_id=1, conversation_id=None, contact_id=contact.pk))
    assert not CampaignRecipient.objects.filter(replied_at__isnull=False).exists()


@time_machine.travel(NOON, tick=False)
def test_send_campaign_starts_it_through_the_lifecycle_service(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    make_contact()
    campaign = make_campaign()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_campaign", "--id", str(campaign.pk), stdout=out)
    assert f"id={campaign.pk}\nstate=running" in out.getvalue()
    assert Message.objects.filter(origin="campaign", status="sent").count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.CAMPAIGN_STARTED, target_id=str(campaign.pk)).exists()


@time_machine.travel(NOON, tick=False)
def test_the_admin_actions_pause_and_resume_through_the_services(
        make_campaign, make_contact, admin_client, django_capture_on_commit_callbacks):
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state="running")
    url = reverse("admin:campaigns_campaign_changelist")
    response = admin_client.post(url, {"action": "pause_campaign_action", "_selected_action": [campaign.pk]})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == "paused" and campaign.pause_reason == "staff"
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resume_campaign_action", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.state == "running"
    paused = AuditEvent.objects.filter(action=AuditAction.CAMPAIGN_PAUSED).first()
    assert paused.detail["reason"] == "staff"


@time_machine.travel(NOON, tick=False)
def test_a_reply_brings_the_campaign_message_into_its_inbox_thread(
        make_campaign, make_contact, django_capture_on_commit_callbacks, sms_channel):
    from messaging.models import Conversation

    contact = make_contact()
    campaign = sent_campaign(make_campaign, django_capture_on_commit_callbacks)
    conversation = Conversation.objects.create(organization=campaign.organization, channel=sms_channel,
                                               contact=contact)
    reply = Message.objects.create(organization=campaign.organization, channel=sms_channel, contact=contact,
                                   conversation=conversation, direction="inbound", origin="patient",
                                   status="received", body="ok")
    record_reply(InboundEvent(organization_id=campaign.organization_id, channel_id=sms_channel.pk,
                              message_id=reply.pk, conversation_id=conversation.pk, contact_id=contact.pk))
    assert Message.objects.get(origin="campaign").conversation_id == conversation.pk
