"""Sending from the inbox: checks before storing, encryption, segments, audit, dispatch after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import Message, WhatsAppTemplate
from messaging.services import outbound
from messaging.services.inbound import receive_inbound
from messaging.services.outbound import SendRefused
from tests.messaging.backend_helpers import PATIENT, as_member, make_channel
from tests.messaging.test_inbound import inbound


@pytest.fixture
def thread(tenant_a):
    """An SMS conversation the patient started."""
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        return receive_inbound(channel, inbound("Hello", "sim-1")).conversation


@pytest.fixture
def wa_thread(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "simulator", kind="whatsapp", name="WA sim")
        return receive_inbound(channel, inbound("Hola", "sim-wa-1")).conversation


def test_a_reply_is_stored_encrypted_queued_then_sent_after_commit(tenant_a, thread,
                                                                    django_capture_on_commit_callbacks):
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message = outbound.send_reply(conversation=thread, body="Your lab results are normal",
                                          actor=as_member(tenant_a, "staff"))
        assert message.status == "queued" and len(callbacks) == 1  # nothing goes out before commit
        assert (message.remote_address, message.remote_address_index) == (PATIENT, thread.contact.phone_index)
        assert message.sent_by == tenant_a.staff and message.origin == "staff"
        callbacks[0]()
        message.refresh_from_db()
        assert message.status == "sent" and message.provider_message_id.startswith("sim_")
        assert message.sent_at is not None and message.attempts == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM messaging_message WHERE id = %s", [message.pk])
        assert "lab results" not in cursor.fetchone()[0]


def test_a_reply_a_worker_will_send_is_answered_as_stored_without_reading_it_back(
        tenant_a, thread, django_capture_on_commit_callbacks):
    from django.test.utils import CaptureQueriesContext

    from config.celery import app

    app.conf.task_always_eager = False  # a worker delivers it (tests/conftest.py restores eager mode)
    with tenant_a.scope():
        with CaptureQueriesContext(connection) as queries, \
                django_capture_on_commit_callbacks(execute=False) as callbacks:
            message = outbound.send_reply(conversation=thread, body="Your lab results are normal",
                                          actor=as_member(tenant_a, "staff"))
        assert len(callbacks) == 1
        assert not [q for q in queries if 'FROM "messaging_message"' in q["sql"]]  # not read back
        stored = Message.objects.get(pk=message.pk)
        assert not message._state.adding and message.body == "Your lab results are normal"
        for column in Message._meta.concrete_fields:
            assert getattr(message, column.attname) == getattr(stored, column.attname), column.name


@pytest.mark.parametrize(("body", "segments", "encoding"), [
    ("Your appointment is at 10:00", 1, "GSM-7"),
    ("Copay is 20€", 1, "GSM-7"),  # € is in the GSM-7 extension table
    ("See you soon 😊", 1, "UCS-2"),
    ("x" * 161, 2, "GSM-7"),
    ("😊" * 40, 2, "UCS-2"),  # 80 UTF-16 units: over 70, two parts
])
def test_segment_counts_are_stored(tenant_a, thread, body, segments, encoding):
    with tenant_a.scope():
        message = outbound.send_reply(conversation=thread, body=body, actor=as_member(tenant_a, "staff"))
        message.refresh_from_db()
        assert (message.segments, message.encoding.upper().replace("GSM7", "GSM-7")) == (
            segments, encoding.upper())


def test_a_viewer_cannot_send(tenant_a, thread):
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        outbound.send_reply(conversation=thread, body="hi", actor=as_member(tenant_a, "viewer"))


@pytest.mark.parametrize(("body", "code", "words"), [
    ("   ", "empty_body", "empty"),
    ("x" * 1601, "body_too_long", "at most 1600"),
])
def test_bad_bodies_are_refused_with_a_clear_reason_and_nothing_stored(tenant_a, thread, body, code, words):
    with tenant_a.scope():
        before = Message.objects.count()
        with pytest.raises(SendRefused) as refused:
            outbound.send_reply(conversation=thread, body=body, actor=as_member(tenant_a, "staff"))
        assert refused.value.reason_code == code and words in refused.value.message
        assert Message.objects.count() == before


def test_an_inactive_channel_refuses(tenant_a, thread):
    with tenant_a.scope():
        thread.channel.is_active = False
        thread.channel.save()
        with pytest.raises(SendRefused) as refused:
            outbound.send_reply(conversation=thread, body="hi", actor=as_member(tenant_a, "staff"))
        assert refused.value.reason_code == "channel_inactive" and "switched off" in refused.value.message


def test_whatsapp_free_form_is_refused_outside_24_hours_but_a_template_goes(tenant_a, wa_thread):
    with tenant_a.scope():
        assert outbound.send_reply(conversation=wa_thread, body="Inside the window",
                                   actor=as_member(tenant_a, "staff"))
        wa_thread.last_inbound_at = timezone.now() - timedelta(hours=25)
        wa_thread.save()
        with pytest.raises(SendRefused) as refused:
            outbound.send_reply(conversation=wa_thread, body="Too late", actor=as_member(tenant_a, "staff"))
        assert refused.value.reason_code == "window_closed" and "template" in refused.value.message
        template = WhatsAppTemplate.objects.create(organization=tenant_a.org, channel=wa_thread.channel,
                                                   name="appointment_reminder", parameter_count=2,
                                                   preview="Hi {{1}}, see you on {{2}}.")
        with pytest.raises(SendRefused) as wrong:
            outbound.send_template(conversation=wa_thread, template=template, parameters=["Ana"],
                                   actor=as_member(tenant_a, "staff"))
        assert wrong.value.reason_code == "template_parameters"
        message = outbound.send_template(conversation=wa_thread, template=template,
                                         parameters=["Ana", "Monday"], actor=as_member(tenant_a, "staff"))
        assert message.template_name == "appointment_reminder"
        assert message.body == "Hi Ana, see you on Monday."
        assert message.payload["template"]["parameters"] == ["Ana", "Monday"]


def test_sends_and_thread_views_are_audited_in_order_without_the_body(tenant_a, thread):
    from messaging import selectors

    with tenant_a.scope():
        start = AuditEvent.objects.order_by("-seq").first().seq
        staff, admin = actor_for(tenant_a.staff, tenant_a.org), actor_for(tenant_a.admin, tenant_a.org)
        viewed = selectors.get_conversation(conversation_id=thread.pk, actor=staff)
        message = outbound.send_reply(conversation=viewed, body="Private words", actor=staff)
        outbound.assign_conversation(conversation=viewed, assignee=tenant_a.staff, actor=admin)
        outbound.close_conversation(conversation=viewed, actor=staff)
        outbound.reopen_conversation(conversation=viewed, actor=staff)
        events = list(AuditEvent.objects.filter(seq__gt=start).order_by("seq"))
    assert [e.action for e in events] == [
        AuditAction.CONVERSATION_VIEWED, AuditAction.MESSAGE_SENT, AuditAction.CONVERSATION_ASSIGNED,
        AuditAction.CONVERSATION_CLOSED, AuditAction.CONVERSATION_REOPENED,
    ]
    sent = events[1]
    assert sent.detail["message_id"] == message.pk and sent.detail["segments"] == 1
    assert "Private" not in str(sent.detail) and sent.actor_id == str(tenant_a.staff.pk)
    assert events[2].detail == {"assignee_id": tenant_a.staff.pk}


def test_an_assignee_must_belong_to_the_organisation(tenant_a, tenant_b, thread):
    with tenant_a.scope(), pytest.raises(ValidationError):
        outbound.assign_conversation(conversation=thread, assignee=tenant_b.staff,
                                     actor=actor_for(tenant_a.admin, tenant_a.org))


def test_reopening_when_a_newer_conversation_is_open_is_refused(tenant_a, thread):
    with tenant_a.scope():
        staff = actor_for(tenant_a.staff, tenant_a.org)
        outbound.close_conversation(conversation=thread, actor=staff)
        receive_inbound(thread.channel, inbound("New question", "sim-9"))
        with pytest.raises(ValidationError):
            outbound.reopen_conversation(conversation=thread, actor=staff)


def test_mark_read_clears_the_unread_count(tenant_a, thread):
    with tenant_a.scope():
        assert thread.unread_count == 1
        outbound.mark_conversation_read(conversation=thread, actor=actor_for(tenant_a.viewer, tenant_a.org))
        thread.refresh_from_db()
        assert thread.unread_count == 0


def test_a_test_message_needs_channel_management(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        with pytest.raises(PermissionDenied):
            outbound.send_test_message(channel=channel, to_phone="+14155550123",
                                       actor=as_member(tenant_a, "staff"))
        with pytest.raises(SendRefused) as refused:
            outbound.send_test_message(channel=channel, to_phone="12", actor=as_member(tenant_a, "admin"))
        assert refused.value.reason_code == "invalid_phone"
        message = outbound.send_test_message(channel=channel, to_phone="(415) 555-0123",
                                             actor=as_member(tenant_a, "admin"))
        assert message.origin == "test" and message.remote_address == "+14155550123"
