"""queue_messages: the one outbound path — checks per recipient, bulk storage, one audit event per
chunk, idempotency per channel, hand-off to dispatch after commit."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from accounts.actor import Actor, WrongOrganization
from accounts.roles import Perm
from audit import AuditAction
from audit.models import AuditEvent
from audit.verification import verify_chain
from contacts.services import set_consent
from messaging.models import Message
from messaging.services import queue_checks, queueing
from messaging.services.inbound import receive_inbound
from messaging.services.outbound import Content, Outcome, Recipient, TemplateSpec, queue_messages
from tests.billing.conftest import put_on_plan
from tests.factories import ContactFactory
from tests.messaging.backend_helpers import as_member, make_channel
from tests.messaging.test_inbound import inbound


def system(tenant) -> Actor:
    return Actor.system("campaign-dispatcher", organization_id=tenant.org.pk)


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid US numbers (area codes 212-989 exist; 555-01xx-style fictional ones do not suffice)."""
    return [f"+1312{2000000 + n:07d}" for n in range(start, start + count)]


def hand_offs(callbacks) -> list:
    return [c for c in callbacks if getattr(c, "func", None) is queueing.hand_off]


def events_after(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def last_seq() -> int:
    event = AuditEvent.objects.order_by("-seq").first()
    return event.seq if event else 0


def test_ten_thousand_recipients_make_ten_thousand_rows_one_audit_event_per_chunk_and_re_calling_adds_none(
        tenant_a, settings, django_capture_on_commit_callbacks):
    settings.MESSAGING_QUEUE_CHUNK_SIZE = 1000
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        recipients = [Recipient(contact_id=None, to_phone=phone, idempotency_key=f"reminder-1-{n}")
                      for n, phone in enumerate(numbers(10_000))]
        start = last_seq()
        with django_capture_on_commit_callbacks(execute=False) as handed_off:
            result = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients,
                                    origin=Message.Origin.CAMPAIGN,
                                    content=Content(body="Your flu shot is due: reply YES to book."))
        assert (result.queued, result.duplicates, result.refused) == (10_000, 0, 0)
        assert Message.objects.filter(channel=channel).count() == 10_000
        ids = [r.message_id for r in result.results]
        assert len(set(ids)) == 10_000
        events = events_after(start)
        assert [e.action for e in events] == [AuditAction.MESSAGES_QUEUED] * 10
        assert sum(e.detail["count"] for e in events) == 10_000
        assert {e.detail["channel_id"] for e in events} == {channel.pk}
        assert events[0].detail["first_message_id"] == min(ids)
        assert events[-1].detail["last_message_id"] == max(ids)
        assert all(e.actor_type == "system" and e.actor_id == "campaign-dispatcher" for e in events)
        assert "flu" not in str([e.detail for e in events]) and "+1312" not in str([e.detail for e in events])
        assert verify_chain(f"org:{tenant_a.org.pk}").ok
        assert len(hand_offs(handed_off)) == 10  # one hand-off per stored chunk, after its commit

        again = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients,
                               origin=Message.Origin.CAMPAIGN, content=Content(body="Your flu shot is due."))
        assert (again.queued, again.duplicates) == (0, 10_000)
        assert [r.message_id for r in again.results] == ids  # each key answers its stored message
        assert Message.objects.filter(channel=channel).count() == 10_000
        assert events_after(events[-1].seq) == []  # nothing stored: nothing audited


def test_bodies_and_addresses_are_stored_encrypted_with_blind_indexes(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        contact = ContactFactory(organization=tenant_a.org, first_name="Ana", phone="+14155550142")
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                recipients=[Recipient(contact_id=contact.pk,
                                                      body="Hi Ana, your results are in")])
        message = Message.objects.get(pk=result.results[0].message_id)
        assert (message.body, message.remote_address) == ("Hi Ana, your results are in", "+14155550142")
        assert message.remote_address_index == contact.phone_index and message.contact_id == contact.pk
        assert (message.status, message.origin, message.segments) == ("queued", "campaign", 1)
        assert message.lease_expires_at > timezone.now() and message.dispatch_slot_at is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, remote_address FROM messaging_message WHERE id = %s", [message.pk])
        body, address = cursor.fetchone()
    assert "Ana" not in body and "4155550142" not in address


def test_each_refused_recipient_gets_its_reason_and_the_others_are_queued(tenant_a, tenant_b):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        fine = ContactFactory(organization=tenant_a.org, phone="+14155550101")
        stopped = ContactFactory(organization=tenant_a.org, phone="+14155550102")
        set_consent(actor=system(tenant_a), contact=stopped, channel="sms", opted_in=False,
                    source="keyword:STOP")
    with tenant_b.scope():
        foreign = ContactFactory(organization=tenant_b.org, phone="+14155550103")
    with tenant_a.scope():
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                content=Content(body="Clinic closed Monday."), recipients=[
                                    Recipient(contact_id=fine.pk),
                                    Recipient(contact_id=stopped.pk),
                                    Recipient(contact_id=None, to_phone="12"),
                                    Recipient(contact_id=None, to_phone="+14155550104", body="   "),
                                    Recipient(contact_id=None, to_phone="+14155550105", body="x" * 1601),
                                    Recipient(contact_id=foreign.pk),
                                    Recipient(contact_id=None, to_phone="+14155550102"),  # stopped's number
                                    Recipient(contact_id=fine.pk, idempotency_key="k" * 129),
                                ])
        outcomes = [(r.outcome, r.reason_code) for r in result.results]
        assert outcomes == [(Outcome.QUEUED, ""), (Outcome.REFUSED, "opted_out"),
                            (Outcome.REFUSED, "invalid_phone"), (Outcome.REFUSED, "empty_body"),
                            (Outcome.REFUSED, "body_too_long"), (Outcome.REFUSED, "unknown_contact"),
                            (Outcome.REFUSED, "opted_out"), (Outcome.REFUSED, "idempotency_key_too_long")]
        assert "START" in result.results[1].reason and "country code" in result.results[2].reason
        assert "at most 1600" in result.results[4].reason
        assert result.refusals() == {"opted_out": 2, "invalid_phone": 1, "empty_body": 1, "body_too_long": 1,
                                     "unknown_contact": 1, "idempotency_key_too_long": 1}
        assert Message.objects.filter(channel=channel).count() == 1


def test_keyword_replies_reach_opted_out_numbers(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        stopped = ContactFactory(organization=tenant_a.org, phone="+14155550102")
        set_consent(actor=system(tenant_a), contact=stopped, channel="sms", opted_in=False,
                    source="keyword:STOP")
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.AUTO_REPLY,
                                recipients=[Recipient(contact_id=stopped.pk, body="You are unsubscribed.")])
        assert result.queued == 1


def test_the_whatsapp_window_is_checked_per_recipient_in_one_query(tenant_a, django_assert_max_num_queries):
    put_on_plan(tenant_a.org, "starter")  # billing's subscription exists (its first read creates a trial)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "simulator", kind="whatsapp", name="WA")
        wrote_today, wrote_long_ago = numbers(2, start=500)
        receive_inbound(channel, inbound("Hi", "wa-1", sender=wrote_today))
        old = receive_inbound(channel, inbound("Hi", "wa-2", sender=wrote_long_ago))
        Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
        never = numbers(40, start=600)
        recipients = [Recipient(contact_id=None, to_phone=p) for p in [wrote_today, wrote_long_ago, *never]]
        content = Content(body="Your appointment is confirmed.")
        # The same handful of queries for 2 or 42 recipients (3 of them billing's: the plan, the
        # period's usage, the metering upsert).
        with django_assert_max_num_queries(15):
            result = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients,
                                    origin=Message.Origin.CAMPAIGN, content=content)
        codes = [r.reason_code for r in result.results]
        assert codes[:2] == ["", "window_closed"] and set(codes[2:]) == {"window_closed"}
        assert "approved template" in result.results[1].reason
        template = Content(body="Reminder: appointment Monday",
                           template=TemplateSpec("appointment_reminder", "en_US", ("Monday",)))
        templated = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients[:2],
                                   origin=Message.Origin.CAMPAIGN, content=template)
        assert templated.queued == 2  # a template may go outside the window
        sent = Message.objects.get(pk=templated.results[1].message_id)
        assert sent.template_name == "appointment_reminder"
        assert sent.payload["template"]["parameters"] == ["Monday"]


def test_a_render_callable_personalises_each_body(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        people = [ContactFactory(organization=tenant_a.org, first_name=name, phone=phone)
                  for name, phone in (("Ana", "+14155550111"), ("Bo", "+14155550112"))]
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                recipients=[Recipient(contact_id=c.pk) for c in people],
                                content=Content(render=lambda contact: f"Hello {contact.first_name}!"))
        bodies = [Message.objects.get(pk=r.message_id).body for r in result.results]
        assert bodies == ["Hello Ana!", "Hello Bo!"]


def test_a_key_repeated_in_one_call_is_stored_once(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        phone = numbers(1)[0]
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.API,
                                content=Content(body="Hello"), recipients=[
                                    Recipient(contact_id=None, to_phone=phone, idempotency_key="api-req-1"),
                                    Recipient(contact_id=None, to_phone=phone, idempotency_key="api-req-1")])
        first, second = result.results
        assert (first.outcome, second.outcome) == (Outcome.QUEUED, Outcome.DUPLICATE)
        assert second.message_id == first.message_id and Message.objects.filter(channel=channel).count() == 1


def test_a_key_stored_by_a_concurrent_caller_after_the_check_is_a_duplicate(tenant_a, monkeypatch):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        recipients = [Recipient(contact_id=None, to_phone=p, idempotency_key=f"k{n}")
                      for n, p in enumerate(numbers(3))]
        first = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients[:2],
                               origin=Message.Origin.CAMPAIGN, content=Content(body="Hello"))
        # The other caller's rows were not there yet when this one looked: the INSERT's ON CONFLICT decides.
        monkeypatch.setattr(queue_checks, "_stored_keys", lambda channel, chunk: {})
        second = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients,
                                origin=Message.Origin.CAMPAIGN, content=Content(body="Hello"))
        assert [r.outcome for r in second.results] == [Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.QUEUED]
        assert [r.message_id for r in second.results[:2]] == [r.message_id for r in first.results]
        assert Message.objects.filter(channel=channel).count() == 3


def test_keys_are_unique_per_channel_not_per_organisation(tenant_a):
    with tenant_a.scope():
        one, two = make_channel(tenant_a.org, name="One"), make_channel(tenant_a.org, name="Two")
        recipient = Recipient(contact_id=None, to_phone=numbers(1)[0], idempotency_key="same")
        for channel in (one, two):
            assert queue_messages(actor=system(tenant_a), channel=channel, recipients=[recipient],
                                  origin=Message.Origin.API, content=Content(body="Hi")).queued == 1


def test_each_chunk_is_its_own_short_transaction_with_its_own_audit_event(tenant_a,
                                                                           django_capture_on_commit_callbacks):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        start = last_seq()
        with django_capture_on_commit_callbacks(execute=False) as handed_off:
            result = queue_messages(actor=system(tenant_a), channel=channel, chunk_size=2,
                                    recipients=[Recipient(contact_id=None, to_phone=p) for p in numbers(5)],
                                    origin=Message.Origin.CAMPAIGN, content=Content(body="Hi"))
        assert result.queued == 5 and len(hand_offs(handed_off)) == 3
        events = events_after(start)
        assert [e.action for e in events] == [AuditAction.MESSAGES_QUEUED] * 2 + [AuditAction.MESSAGE_SENT]
        assert [e.detail.get("count") for e in events[:2]] == [2, 2]


def test_the_batch_goes_to_dispatch_after_commit_with_its_slots_reserved_in_one_call(
        tenant_a, monkeypatch, django_capture_on_commit_callbacks):
    from messaging import ratelimit

    limiter = ratelimit.get_rate_limiter()
    calls = []
    real = limiter.reserve
    monkeypatch.setattr(limiter, "reserve", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        with django_capture_on_commit_callbacks(execute=True):
            result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                    recipients=[Recipient(contact_id=None, to_phone=p) for p in numbers(4)],
                                    content=Content(body="See you tomorrow"))
        messages = Message.objects.filter(pk__in=[r.message_id for r in result.results]).order_by("pk")
        assert [m.status for m in messages] == ["sent"] * 4  # eager Celery: the simulator accepted them
        assert len(calls) == 1 and calls[0][0][2] == 4  # four slots, one reservation
        slots = [m.dispatch_slot_at for m in messages]
        assert all(b - a == timedelta(milliseconds=1) for a, b in itertools.pairwise(slots))
        assert all(m.lease_expires_at is None for m in messages)  # finished: nobody needs to hold them


def test_a_wrong_role_another_organisation_or_a_narrow_key_is_refused(tenant_a, tenant_b):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        recipients = [Recipient(contact_id=None, to_phone=numbers(1)[0])]
        content = Content(body="Hi")
        kwargs = dict(channel=channel, recipients=recipients, origin=Message.Origin.CAMPAIGN, content=content)
        with pytest.raises(PermissionDenied):
            queue_messages(actor=as_member(tenant_a, "viewer"), **kwargs)
        with pytest.raises(WrongOrganization):
            queue_messages(actor=as_member(tenant_b, "admin"), **kwargs)
        with pytest.raises(WrongOrganization):
            queue_messages(actor=system(tenant_b), **kwargs)
        read_only = Actor.api_key(key_id="k1", organization_id=tenant_a.org.pk,
                                  permissions={Perm.CONTACTS_VIEW})
        with pytest.raises(PermissionDenied):
            queue_messages(actor=read_only, **kwargs)
        assert Message.objects.filter(channel=channel).count() == 0
        sender = Actor.api_key(key_id="k2", organization_id=tenant_a.org.pk, permissions={Perm.MESSAGES_SEND})
        assert queue_messages(actor=sender, **kwargs).queued == 1
        assert queue_messages(actor=as_member(tenant_a, "staff"), **kwargs).queued == 1
        staff_sent = Message.objects.filter(channel=channel).order_by("pk").last()
        assert staff_sent.sent_by == tenant_a.staff


def test_an_inactive_channel_refuses_every_recipient_without_raising(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, is_active=False)
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.CAMPAIGN,
                                recipients=[Recipient(contact_id=None, to_phone=p) for p in numbers(3)],
                                content=Content(body="Hi"))
        assert result.refusals() == {"channel_inactive": 3} and "switched off" in result.results[0].reason


def test_a_conversation_of_another_channel_is_refused(tenant_a):
    with tenant_a.scope():
        channel, other = make_channel(tenant_a.org), make_channel(tenant_a.org, name="Other")
        conversation = receive_inbound(other, inbound("Hello", "sim-x")).conversation
        result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.STAFF,
                                recipients=[Recipient(contact_id=None, conversation_id=conversation.pk,
                                                      body="Hi")])
        assert result.results[0].reason_code == "unknown_conversation"


def test_origin_must_be_an_outbound_origin(tenant_a):
    with tenant_a.scope(), pytest.raises(ValueError):
        queue_messages(actor=system(tenant_a), channel=make_channel(tenant_a.org), recipients=[],
                       origin=Message.Origin.PATIENT)


def test_the_chunk_stores_in_one_insert_statement(tenant_a, django_assert_max_num_queries):
    put_on_plan(tenant_a.org, "starter")
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        recipients = [Recipient(contact_id=None, to_phone=p, idempotency_key=f"s{n}")
                      for n, p in enumerate(numbers(300))]
        queueing.queue_messages(actor=system(tenant_a), channel=channel, recipients=[recipients[0]],
                                origin=Message.Origin.CAMPAIGN, content=Content(body="warm"))  # keys cached
        with django_assert_max_num_queries(13) as captured:  # 3 of them billing's (see above)
            queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients[1:],
                           origin=Message.Origin.CAMPAIGN, content=Content(body="Hi"))
        inserts = [q["sql"] for q in captured.captured_queries
                   if "INSERT INTO messaging_message" in q["sql"].replace('"', "")]
        assert len(inserts) == 1
        assert Message.objects.filter(channel=channel).count() == 300


def test_the_embedded_databases_values_insert_stores_and_dedupes_the_same(tenant_a, monkeypatch):
    """SQLite (make run) inserts through a multi-row VALUES list; same rows, same ON CONFLICT rule."""
    from messaging.services import queue_store

    monkeypatch.setattr(queue_store, "_insert_unnest", queue_store._insert_embedded)
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        phones = numbers(3)
        recipients = [Recipient(contact_id=None, to_phone=phones[0], idempotency_key="a"),
                      Recipient(contact_id=None, to_phone=phones[1]),
                      Recipient(contact_id=None, to_phone=phones[2], idempotency_key="a")]
        result = queue_messages(actor=system(tenant_a), channel=channel, recipients=recipients,
                                origin=Message.Origin.CAMPAIGN, content=Content(body="Hi"))
        assert [r.outcome for r in result.results] == [Outcome.QUEUED, Outcome.QUEUED, Outcome.DUPLICATE]
        assert result.results[2].message_id == result.results[0].message_id
        stored = {m.pk: m.remote_address for m in Message.objects.filter(channel=channel)}
        assert stored == {result.results[0].message_id: phones[0], result.results[1].message_id: phones[1]}


def test_rows_the_caller_just_read_are_checked_as_read_not_read_again(tenant_a):
    """A reply's conversation and patient (read with select_related by the door) are not read a
    second time; their consent is still what decides."""
    from django.test.utils import CaptureQueriesContext

    from messaging.models import Conversation

    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        conversation = receive_inbound(channel, _inbound_from("+14255550177", "sim-known-1")).conversation
        conversation = Conversation.objects.select_related("contact", "channel").get(pk=conversation.pk)
        with CaptureQueriesContext(connection) as queries:
            result = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.STAFF,
                                    recipients=[Recipient(contact_id=conversation.contact_id,
                                                          conversation_id=conversation.pk, body="See you")],
                                    conversations=[conversation])
        assert result.results[0].outcome is Outcome.QUEUED
        reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
        assert not [sql for sql in reads if '"contacts_contact"' in sql or '"messaging_conversation"' in sql]

        set_consent(actor=system(tenant_a), contact=conversation.contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
        fresh = Conversation.objects.select_related("contact", "channel").get(pk=conversation.pk)
        refused = queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.STAFF,
                                 recipients=[Recipient(contact_id=fresh.contact_id, conversation_id=fresh.pk,
                                                       body="See you")],
                                 conversations=[fresh])
        assert refused.results[0].reason_code == "opted_out"


def test_a_known_conversation_of_another_channel_is_not_trusted(tenant_a):
    with tenant_a.scope():
        sms = make_channel(tenant_a.org)
        other = make_channel(tenant_a.org, "simulator", name="Second line", address="+15005550009")
        conversation = receive_inbound(other, _inbound_from("+14255550178", "sim-known-2")).conversation
        result = queue_messages(actor=system(tenant_a), channel=sms, origin=Message.Origin.STAFF,
                                recipients=[Recipient(contact_id=conversation.contact_id,
                                                      conversation_id=conversation.pk, body="Hi")],
                                conversations=[conversation])
        assert result.results[0].reason_code == "unknown_conversation"


def _inbound_from(phone: str, provider_id: str):
    from tests.messaging.test_inbound import inbound

    return inbound("Hello", provider_id, sender=phone)


@pytest.mark.parametrize("embedded", [False, True], ids=["postgresql", "embedded"])
def test_a_reply_moves_its_conversations_last_message_time_and_no_other_organisations(
        tenant_a, tenant_b, monkeypatch, embedded):
    """The last-message time is written with the insert (PostgreSQL) or right after it (SQLite),
    bound to the channel's organisation: another organisation's conversation id changes nothing."""
    from messaging.models import Conversation
    from messaging.services import queue_store
    from messaging.services.queue_store import touch_conversations

    if embedded:
        monkeypatch.setattr(queue_store, "_insert_unnest", queue_store._insert_embedded)

    with tenant_b.scope():
        theirs = receive_inbound(make_channel(tenant_b.org),
                                 _inbound_from("+14085550101", "sim-b-1")).conversation
        theirs_before = Conversation.objects.get(pk=theirs.pk).last_message_at
    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        ours = receive_inbound(channel, _inbound_from("+14085550102", "sim-a-1")).conversation
        before = Conversation.objects.get(pk=ours.pk).last_message_at
        queue_messages(actor=system(tenant_a), channel=channel, origin=Message.Origin.STAFF,
                       recipients=[Recipient(contact_id=ours.contact_id, conversation_id=ours.pk, body="Hi")])
        after = Conversation.objects.get(pk=ours.pk).last_message_at
        assert after > before
        assert after == Message.objects.get(conversation=ours, direction="outbound").created_at
        touch_conversations(connection, tenant_a.org.pk, [ours.pk, theirs.pk], after + timedelta(hours=1))
        assert Conversation.objects.get(pk=ours.pk).last_message_at == after + timedelta(hours=1)
    with tenant_b.scope():
        assert Conversation.objects.get(pk=theirs.pk).last_message_at == theirs_before
