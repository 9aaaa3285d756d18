"""STOP / START / HELP: consent changes first, one confirmation, and sends refused after STOP."""

from __future__ import annotations

import pytest

from contacts.selectors import consent_state
from contacts.services import create_contact
from messaging.inbound import register_inbound_handler, unregister_inbound_handler
from messaging.keywords import Keyword, match_keyword
from messaging.models import Conversation, Message, MessagingSettings
from messaging.services.outbound import SendRefused, send_reply
from tests.factories import system_actor
from tests.fakes.payloads import meta_inbound_reply, simulator_inbound
from tests.messaging.backend_helpers import PATIENT, as_member, make_channel, post_meta, post_simulator


@pytest.fixture
def sim(tenant_a):
    with tenant_a.scope():
        return make_channel(tenant_a.org, "simulator")


def patient_says(channel, text, capture):
    with capture(execute=True):
        response = post_simulator(channel, simulator_inbound(from_=PATIENT, to=channel.address, body=text))
    assert response.status_code == 200


@pytest.mark.parametrize("text", ["STOP", " stop ", "Stop\n", "unsubscribe", "QUIT", "OptOut", "stopall"])
def test_stop_words_in_any_case_and_spacing_opt_the_patient_out(text):
    assert match_keyword(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["please stop", "stop it", "", "STOP!", "help me"])
def test_a_keyword_inside_a_sentence_is_just_a_message(text):
    assert match_keyword(text) is None


def test_stop_opts_out_confirms_once_and_then_a_reply_is_refused(tenant_a, sim,
        django_capture_on_commit_callbacks):
    patient_says(sim, "  Stop ", django_capture_on_commit_callbacks)

    with tenant_a.scope():
        conversation = Conversation.objects.get()
        state = consent_state(conversation.contact, "sms")
        assert (state.opted_in, state.source) == (False, "keyword:STOP")
        replies = Message.objects.filter(direction="outbound")
        assert replies.count() == 1
        confirmation = replies.get()
        assert confirmation.origin == "auto_reply" and confirmation.status == "sent"
        assert "Org A Clinic" in confirmation.body and "unsubscribed" in confirmation.body
        assert confirmation.conversation == conversation

        with pytest.raises(SendRefused) as refused:
            send_reply(conversation=conversation, body="Your appointment is tomorrow",
                       actor=as_member(tenant_a, "staff"))
        assert refused.value.reason_code == "opted_out"
        assert "START" in refused.value.message
        assert Message.objects.filter(direction="outbound").count() == 1  # nothing stored for the refusal


def test_start_resubscribes_and_confirms(tenant_a, sim,
        django_capture_on_commit_callbacks):
    patient_says(sim, "STOP", django_capture_on_commit_callbacks)
    patient_says(sim, "start", django_capture_on_commit_callbacks)
    with tenant_a.scope():
        conversation = Conversation.objects.get()
        assert consent_state(conversation.contact, "sms").opted_in is True
        replies = Message.objects.filter(direction="outbound").order_by("pk")
        assert list(replies.values_list("origin", flat=True)) == ["auto_reply", "auto_reply"]
        assert "subscribed again" in Message.objects.filter(direction="outbound").order_by("pk").last().body
        reply = send_reply(conversation=conversation, body="Welcome back", actor=as_member(tenant_a, "staff"))
        assert reply.status == "queued"


def test_help_is_answered_with_the_organisations_own_text(tenant_a, sim,
        django_capture_on_commit_callbacks):
    with tenant_a.scope():
        MessagingSettings.objects.create(organization=tenant_a.org,
                                         help_reply="{org}: call 555-0100 for help.")
    patient_says(sim, "help", django_capture_on_commit_callbacks)
    with tenant_a.scope():
        answer = Message.objects.get(direction="outbound")
        assert answer.body == "Org A Clinic: call 555-0100 for help."
        assert consent_state(answer.contact, "sms").opted_in is None  # HELP changes no consent


def test_a_blank_stop_reply_sends_no_confirmation(tenant_a, sim,
        django_capture_on_commit_callbacks):
    # For providers that confirm STOP themselves (Twilio's standard opt-out handling).
    with tenant_a.scope():
        MessagingSettings.objects.create(organization=tenant_a.org, stop_reply="")
    patient_says(sim, "STOP", django_capture_on_commit_callbacks)
    with tenant_a.scope():
        assert not Message.objects.filter(direction="outbound").exists()
        assert consent_state(Conversation.objects.get().contact, "sms").opted_in is False


def test_a_whatsapp_button_whose_id_is_stop_opts_out_of_whatsapp_only(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "whatsapp_cloud")
    body = meta_inbound_reply(from_wa_id="14155550199", kind="button_reply", reply_id="STOP", title="No more")
    assert post_meta(channel, body).status_code == 200
    with tenant_a.scope():
        message = Message.objects.get(direction="inbound")
        assert message.body == "No more" and message.payload["reply"]["id"] == "STOP"
        contact = message.contact
        assert consent_state(contact, "whatsapp").opted_in is False
        assert consent_state(contact, "sms").opted_in is None


def test_handlers_see_the_keyword_after_consent_was_updated(tenant_a, sim,
        django_capture_on_commit_callbacks):
    seen = []

    def handler(event):
        with tenant_a.scope():
            contact = Message.objects.get(pk=event.message_id).contact
            seen.append((event.keyword, consent_state(contact, "sms").opted_in, type(event.message_id)))

    register_inbound_handler(handler)
    try:
        patient_says(sim, "STOP", django_capture_on_commit_callbacks)
    finally:
        unregister_inbound_handler(handler)
    assert seen == [("stop", False, int)]


def test_an_existing_contact_is_opted_out_not_duplicated(tenant_a, sim,
        django_capture_on_commit_callbacks):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 first_name="Ana", phone="(415) 555-0199")
    patient_says(sim, "END", django_capture_on_commit_callbacks)
    with tenant_a.scope():
        contact.refresh_from_db()
        assert consent_state(contact, "sms").opted_in is False
        assert Conversation.objects.get().contact == contact


def test_yes_from_a_subscribed_patient_is_an_answer_not_a_resubscription(tenant_a):
    """"YES" is on the CTIA START list, but only an opted-out sender resubscribes with it."""
    from django.utils import timezone

    from messaging.keywords import Keyword, keyword_of
    from messaging.providers import InboundMessage

    yes = InboundMessage(provider_message_id="sim-yes", from_address="+14155550100", to_address="+1",
                         body=" yes ", received_at=timezone.now())
    assert keyword_of(yes, opted_out=False) is None
    assert keyword_of(yes, opted_out=True) is Keyword.START
    start = InboundMessage(provider_message_id="sim-start", from_address="+14155550100", to_address="+1",
                           body="START", received_at=timezone.now())
    assert keyword_of(start, opted_out=False) is Keyword.START
