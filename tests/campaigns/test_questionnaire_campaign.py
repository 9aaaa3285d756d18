"""A campaign that starts a questionnaire: each patient gets the campaign's message, then the
questionnaire's first question (a session via=campaign), and answers it as any intake session;
the questionnaire is the organisation's own, switched on, with questions, on an SMS channel."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from campaigns.dispatching import dispatcher_actor, run_dispatch
from campaigns.errors import CampaignRefused
from campaigns.fanout import fan_out
from campaigns.intake import services as intake_services
from campaigns.intake.models import IntakeSession
from campaigns.models import Campaign
from campaigns.services.campaigns import update_campaign
from campaigns.services.lifecycle import cancel_campaign, pause_campaign, resume_campaign
from messaging.models import Channel, Message
from messaging.ratelimit import get_rate_limiter
from messaging.services.dispatch import deliver_message
from tests.api.conftest import client_with, make_key
from tests.campaigns.conftest import actor_of
from tests.intake.helpers import build
from tests.messaging.backend_helpers import post_simulator

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=datetime.UTC)  # 13:00 for the +1 415 patients
QUESTIONS = [
    {"key": "first_name", "kind": "text", "prompt": "What is your first name?"},
    {"key": "city", "kind": "text", "prompt": "Which city do you live in?"},
]


@pytest.fixture(autouse=True)
def _noon_and_fast_channel(sms_channel):
    Channel.objects.filter(pk=sms_channel.pk).update(rate_limit_per_second=1000)
    sms_channel.refresh_from_db()
    get_rate_limiter().reset(sms_channel.pk)
    with time_machine.travel(NOON, tick=False):
        yield


@pytest.fixture
def questionnaire(tenant_a, org_scope):
    return build(tenant_a, QUESTIONS, intro="A few questions before your visit.")


def running(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(state="running", started_at=NOON)
    fan_out(actor=dispatcher_actor(campaign.organization_id), campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def dispatch(campaign):
    with TestCase.captureOnCommitCallbacks(execute=True):  # messaging's hand-offs send after commit
        return run_dispatch(actor=dispatcher_actor(campaign.organization_id), campaign_id=campaign.pk)


def texted(channel, phone: str, body: str) -> None:
    """The patient answers through the simulator's signed webhook (the bot runs on commit)."""
    payload = {"id": f"simin_{uuid.uuid4().hex}", "from": phone, "to": channel.address, "body": body}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = post_simulator(channel, json.dumps(payload).encode(), secret="s3cret")
    assert response.status_code == 200, response.content


def outbox(contact) -> list[Message]:
    return list(Message.objects.filter(contact=contact, direction="outbound").order_by("pk"))


def test_each_patient_gets_the_message_then_the_first_question_and_their_answer_advances_it(
        make_campaign, make_contact, questionnaire, sms_channel):
    patients = [make_contact(first_name=name) for name in ("Ada", "Grace", "Alan")]
    campaign = running(make_campaign(questionnaire=questionnaire))
    assert dispatch(campaign).queued == 3
    for patient in patients:
        campaign_message, question = outbox(patient)
        assert campaign_message.origin == "campaign"
        assert campaign_message.body == f"Hi {patient.first_name}, your flu shot is due at Org A Clinic."
        assert question.origin == "intake" and question.status == "sent"
        assert question.body.startswith("A few questions before your visit.")
        assert "What is your first name?" in question.body
    sessions = IntakeSession.objects.filter(questionnaire=questionnaire)
    assert sorted(s.contact_id for s in sessions) == sorted(p.pk for p in patients)
    assert {(s.via, s.status, s.channel_id, s.position) for s in sessions} == {
        ("campaign", "active", sms_channel.pk, 0)}

    ada = patients[0]
    texted(sms_channel, ada.phone, "Ada")
    session = IntakeSession.objects.get(contact=ada)
    assert session.position == 1 and session.answers == {"first_name": "Ada"}
    assert "Which city do you live in?" in outbox(ada)[-1].body
    assert session.conversation_id is not None  # joined the thread the answer opened
    # The others are still at the first question.
    assert set(IntakeSession.objects.exclude(contact=ada).values_list("position", flat=True)) == {0}


def _intake_queries(campaign) -> list[str]:
    """The intake tables' statements of one dispatcher run of ``campaign`` (its sends included)."""
    with CaptureQueriesContext(connection) as queries:
        assert dispatch(campaign).queued == 3
    return [q["sql"] for q in queries
            if "campaigns_questionnaire" in q["sql"] or "campaigns_intakesession" in q["sql"]]


def test_a_campaign_without_a_questionnaire_starts_nothing_and_reads_no_intake_table(
        make_campaign, make_contact, questionnaire):
    for _ in range(3):
        make_contact()
    assert _intake_queries(running(make_campaign())) == []
    assert not IntakeSession.objects.exists()
    assert not Message.objects.filter(origin="intake").exists()
    # The same patients in a campaign with one: each is started.
    assert _intake_queries(running(make_campaign(questionnaire=questionnaire)))
    assert IntakeSession.objects.filter(via="campaign").count() == 3


def test_the_question_waits_for_the_campaign_message_and_never_follows_a_withdrawn_one(
        make_campaign, make_contact, questionnaire, sms_channel, admin_actor):
    """Started only once the campaign message went out: not while it waits in messaging, not for a
    paused campaign's held message, never for a cancelled campaign's withdrawn one."""
    first, second = make_contact(), make_contact()
    campaign = running(make_campaign(questionnaire=questionnaire))
    actor = dispatcher_actor(campaign.organization_id)
    with TestCase.captureOnCommitCallbacks(execute=False):  # handed to messaging, not yet sent
        assert run_dispatch(actor=actor, campaign_id=campaign.pk).queued == 2
    assert not IntakeSession.objects.exists()
    ids = dict(Message.objects.filter(origin="campaign").values_list("contact_id", "pk"))
    pause_campaign(actor=admin_actor, campaign=campaign)
    assert deliver_message(ids[first.pk]).outcome == "held"
    assert not IntakeSession.objects.exists() and not Message.objects.filter(origin="intake").exists()
    campaign.refresh_from_db()
    with TestCase.captureOnCommitCallbacks(execute=False):  # the resume's hand-offs left out
        resume_campaign(actor=admin_actor, campaign=campaign)
    assert deliver_message(ids[first.pk]).outcome == "sent"
    assert IntakeSession.objects.get().contact_id == first.pk  # now, and only for the one sent
    campaign.refresh_from_db()
    cancel_campaign(actor=admin_actor, campaign=campaign)
    assert deliver_message(ids[second.pk]).outcome == "failed"  # withdrawn: nothing follows it
    assert list(IntakeSession.objects.values_list("contact_id", flat=True)) == [first.pk]
    assert [m.origin for m in outbox(second)] == ["campaign"]


def test_a_patient_already_answering_on_the_channel_keeps_their_session(
        tenant_a, make_campaign, make_contact, questionnaire, sms_channel):
    busy, free = make_contact(), make_contact()
    with TestCase.captureOnCommitCallbacks(execute=True):
        own = intake_services.start_for_contact(questionnaire=questionnaire, contact_id=busy.pk,
                                                channel=sms_channel, actor=actor_of(tenant_a, "staff"))
    asked_before = len(outbox(busy))
    campaign = running(make_campaign(questionnaire=questionnaire))
    assert dispatch(campaign).queued == 2  # no error for the busy patient
    assert list(IntakeSession.objects.filter(contact=busy)) == [own]  # theirs, still via staff
    assert IntakeSession.objects.get(contact=free).via == "campaign"
    # The busy patient got the campaign message, and no second first question.
    assert [m.origin for m in outbox(busy)[asked_before:]] == ["campaign"]


def test_the_questionnaire_must_be_switched_on_have_questions_and_ride_on_sms(
        tenant_a, make_campaign, questionnaire, admin_actor):
    empty = build(tenant_a, [], name="Empty one", start_keywords="EMPTY")
    with pytest.raises(CampaignRefused) as refused:
        make_campaign(questionnaire=empty)
    assert refused.value.code == "questionnaire_empty"
    whatsapp = Channel.objects.create(organization=tenant_a.org, name="WhatsApp", provider="simulator",
                                      kind="whatsapp", address="+15005550007", webhook_secret="s3cret")
    with pytest.raises(CampaignRefused) as refused:
        make_campaign(questionnaire=questionnaire, channel=whatsapp)
    assert refused.value.code == "questionnaire_channel"
    campaign = make_campaign(questionnaire=questionnaire)
    with pytest.raises(CampaignRefused) as refused:  # the channel changes under the questionnaire
        update_campaign(actor=admin_actor, campaign=campaign, channel=whatsapp)
    assert refused.value.code == "questionnaire_channel"
    intake_services.update_questionnaire(questionnaire=questionnaire, actor=admin_actor, is_active=False)
    with pytest.raises(CampaignRefused) as refused:
        make_campaign(questionnaire=questionnaire)
    assert refused.value.code == "questionnaire_inactive"


def test_the_questionnaire_cannot_change_once_the_campaign_runs(make_campaign, questionnaire, admin_actor):
    campaign = running(make_campaign())
    with pytest.raises(CampaignRefused) as refused:
        update_campaign(actor=admin_actor, campaign=campaign, questionnaire=questionnaire)
    assert refused.value.code == "not_editable"
    campaign.refresh_from_db()
    assert campaign.questionnaire_id is None


def test_another_organisations_questionnaire_is_refused_by_the_service_and_the_form(
        tenant_a, tenant_b, make_campaign, make_template, sms_channel, questionnaire):
    theirs = build(tenant_b, QUESTIONS)
    with pytest.raises(PermissionDenied):
        make_campaign(questionnaire=theirs)
    client = tenant_a.client_for("admin")
    form = {"name": "Intake push", "kind": "care", "channel": sms_channel.pk, "template": make_template().pk}
    response = client.post(reverse("campaigns:create"), {**form, "questionnaire": theirs.pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Campaign.objects.exists()
    # The organisation's own is chosen in the form and shown on the campaign's page.
    response = client.post(reverse("campaigns:create"), {**form, "questionnaire": questionnaire.pk})
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.questionnaire_id == questionnaire.pk
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "New patient intake" in page and reverse("intake:detail", args=[questionnaire.pk]) in page


def test_the_edit_form_sets_and_clears_the_questionnaire(tenant_a, make_campaign, questionnaire):
    campaign = make_campaign()
    client = tenant_a.client_for("admin")
    form = {"name": "Flu shots", "channel": campaign.channel_id, "template": campaign.template_id,
            "audience_source": "everyone", "tag_match": "any"}
    page = client.get(reverse("campaigns:edit", args=[campaign.pk])).content.decode()
    assert 'name="questionnaire"' in page and "New patient intake" in page
    assert client.post(reverse("campaigns:edit", args=[campaign.pk]),
                       {**form, "questionnaire": questionnaire.pk}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.questionnaire_id == questionnaire.pk
    assert client.post(reverse("campaigns:edit", args=[campaign.pk]), form).status_code == 302
    campaign.refresh_from_db()
    assert campaign.questionnaire_id is None


def test_the_api_takes_the_organisations_questionnaire_and_refuses_anothers(
        tenant_a, tenant_b, make_template, sms_channel, questionnaire):
    theirs = build(tenant_b, QUESTIONS)
    template = make_template()
    api = client_with(make_key(tenant_a))
    body = {"name": "Intake push", "kind": "care", "channel": sms_channel.pk, "template": template.pk}
    response = api.post("/api/v1/campaigns", {**body, "questionnaire": theirs.pk}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == "questionnaire" and "not exist" in error["details"][0]["message"]
    with scopes_disabled():  # test read-back
        assert not Campaign.objects.exists()
    response = api.post("/api/v1/campaigns", {**body, "questionnaire": questionnaire.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["questionnaire"] == questionnaire.pk
    campaign_id = response.json()["id"]
    response = api.patch(f"/api/v1/campaigns/{campaign_id}", {"questionnaire": None}, format="json")
    assert response.status_code == 200 and response.json()["questionnaire"] is None


def test_the_admin_chooses_it_by_name_through_the_service(tenant_a, make_campaign, questionnaire):
    campaign = make_campaign()
    client = tenant_a.client_for("admin")
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert "New patient intake" in client.get(url).content.decode()
    response = client.post(url, {"name": "Flu shots", "channel": campaign.channel_id,
                                 "template": campaign.template_id, "questionnaire": questionnaire.pk,
                                 "send_at_0": "", "send_at_1": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign.refresh_from_db()
    assert campaign.questionnaire_id == questionnaire.pk
