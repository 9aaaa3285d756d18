"""Inbound pipeline: contact by blind index, one open conversation, counters, tenancy, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from contacts.models import Contact
from contacts.services import create_contact
from messaging.inbound import register_inbound_handler, unregister_inbound_handler
from messaging.models import Conversation, Message
from messaging.providers import InboundMessage
from messaging.services import inbound as inbound_service
from messaging.services.inbound import receive_inbound
from tests.factories import system_actor
from tests.fakes.payloads import simulator_inbound, twilio_inbound_sms
from tests.messaging.backend_helpers import PATIENT, make_channel, post_simulator, post_twilio


def inbound(text: str, pid: str, sender: str = PATIENT) -> InboundMessage:
    return InboundMessage(provider_message_id=pid, from_address=sender, to_address="+15005550006", body=text,
                          received_at=timezone.now())


@pytest.mark.parametrize("one_statement_bump", [True, False], ids=["postgresql", "embedded"])
def test_a_known_patient_is_found_by_phone_and_messages_share_the_open_conversation(
        tenant_a, monkeypatch, one_statement_bump):
    monkeypatch.setattr(inbound_service, "update_returning", lambda connection: one_statement_bump)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 first_name="Ana", phone="415-555-0199")
        first = receive_inbound(channel, inbound("Hi", "sim-1"))
        second = receive_inbound(channel, inbound("Are you there?", "sim-2"))
        assert first.contact == second.contact == contact
        assert first.conversation == second.conversation
        conversation = Conversation.objects.get()
        assert conversation.unread_count == 2
        assert conversation.last_inbound_at is not None and conversation.last_message_at is not None
        assert Contact.objects.count() == 1


def test_a_known_patients_message_costs_six_statements(tenant_a, django_assert_num_queries):
    """The webhook hot path: contact, conversation bump, message, usage upsert (billing), audit
    head lock, audit append.

    (Plus the savepoint pair the test's own transaction adds around receive_inbound's block.)
    A new query here costs every inbound message; bench/webhooks.py measures what it means.
    """
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        receive_inbound(channel, inbound("Hi", "sim-1"))  # creates the contact and conversation
        with django_assert_num_queries(6 + 2):
            assert receive_inbound(channel, inbound("Again", "sim-2")) is not None


def test_a_retried_message_returns_none_and_changes_nothing(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        assert receive_inbound(channel, inbound("Hi", "sim-1")) is not None
        assert receive_inbound(channel, inbound("Hi", "sim-1")) is None
        assert Message.objects.count() == 1
        assert Conversation.objects.get().unread_count == 1
        assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_RECEIVED).count() == 1


def test_a_message_after_closing_opens_a_new_conversation(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        old = receive_inbound(channel, inbound("Hi", "sim-1")).conversation
        old.status, old.closed_at = "closed", timezone.now()
        old.save()
        new = receive_inbound(channel, inbound("Me again", "sim-2")).conversation
        assert new != old and new.status == "open" and new.unread_count == 1


def test_the_body_is_encrypted_at_rest_and_the_sender_indexed(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        message = receive_inbound(channel, inbound("My blood sugar is 180", "sim-1"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, remote_address, remote_address_index FROM messaging_message "
                       "WHERE id = %s", [message.pk])
        body, address, index = cursor.fetchone()
    assert "blood sugar" not in body and PATIENT not in address
    assert index == message.contact.phone_index


def test_a_channel_of_org_a_never_writes_into_org_b(tenant_a, tenant_b):
    with tenant_b.scope():
        b_contact = create_contact(actor=system_actor(tenant_b.org), organization=tenant_b.org,
                                   first_name="Bea", phone=PATIENT)
        b_channel = make_channel(tenant_b.org, "simulator", webhook_secret="b-secret")
        receive_inbound(b_channel, inbound("B's own thread", "sim-b"))
    with scopes_disabled():  # test bookkeeping across organisations
        b_before = (Contact.objects.filter(organization=tenant_b.org).count(),
                    Conversation.objects.filter(organization=tenant_b.org).get().unread_count,
                    Message.objects.filter(organization=tenant_b.org).count())
    with tenant_a.scope():
        a_channel = make_channel(tenant_a.org)
    body = simulator_inbound(from_=PATIENT, to=a_channel.address, body="Hello A")
    response = post_simulator(a_channel, body)
    assert response.status_code == 200
    with scopes_disabled():
        message = Message.objects.get(channel=a_channel)
        assert message.organization_id == tenant_a.org.pk
        assert message.contact.organization_id == tenant_a.org.pk and message.contact != b_contact
        assert message.conversation.organization_id == tenant_a.org.pk
        assert (Contact.objects.filter(organization=tenant_b.org).count(),
                Conversation.objects.filter(organization=tenant_b.org).get().unread_count,
                Message.objects.filter(organization=tenant_b.org).count()) == b_before


def test_handlers_get_ids_only_after_the_message_is_stored(tenant_a, django_capture_on_commit_callbacks):
    events = []
    register_inbound_handler(events.append)
    try:
        with tenant_a.scope():
            channel = make_channel(tenant_a.org, "twilio")
        with django_capture_on_commit_callbacks(execute=True):
            assert post_twilio(channel, twilio_inbound_sms(from_=PATIENT, to="+14155550100",
                                                           body="Refill please")).status_code == 200
    finally:
        unregister_inbound_handler(events.append)
    assert len(events) == 1
    event = events[0]
    with tenant_a.scope():
        message = Message.objects.get()
    assert (event.message_id, event.conversation_id, event.contact_id, event.keyword) == (
        message.pk, message.conversation_id, message.contact_id, None)
    assert "Refill" not in repr(event) and PATIENT not in repr(event)


def test_window_timestamp_never_lies_in_the_future(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        future = InboundMessage(provider_message_id="sim-f", from_address=PATIENT, to_address=channel.address,
                                body="hi", received_at=timezone.now() + timedelta(hours=3))
        conversation = receive_inbound(channel, future).conversation
        assert conversation.last_inbound_at <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_messages_from_a_new_number_make_one_contact_and_one_conversation(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
    errors = []

    def deliver(n: int):
        try:
            body = simulator_inbound(from_="+14155550142", to=channel.address, body=f"part {n}",
                                     message_id=f"sim-race-{n}")
            assert post_simulator(channel, body).status_code == 200
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with tenant_a.scope():
        assert Contact.objects.count() == 1
        assert Conversation.objects.count() == 1
        assert Message.objects.count() == 6
        assert Conversation.objects.get().unread_count == 6


def test_the_open_conversations_bump_uses_its_unique_index_even_in_a_generic_plan(tenant_a):
    """The open conversation per (channel, contact) is a partial unique index: the bump writes
    its status out, so a plan prepared for every run can use it."""
    from messaging.services.inbound import _BUMP
    from tests.plans import generic_plan

    now = timezone.now()
    plan = generic_plan(_BUMP, [now, now, tenant_a.org.pk, 1, 1])
    assert "conversation_one_open_per_channel_contact" in plan, plan
