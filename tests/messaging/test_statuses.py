"""Delivery receipts: forward only, once each, and a late opt-out is recorded."""

from __future__ import annotations

import pytest

from contacts.selectors import consent_state
from contacts.services import create_contact
from messaging.models import DeliveryReceipt, Message
from messaging.providers import MessageStatus, SendOutcome, StatusUpdate
from messaging.services.statuses import apply_status_update
from tests.factories import system_actor
from tests.fakes.payloads import twilio_status
from tests.messaging.backend_helpers import PATIENT, make_channel, post_twilio


@pytest.fixture
def sent(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone=PATIENT)
        return Message.objects.create(organization=tenant_a.org, channel=channel, contact=contact,
                                      direction="outbound", origin="staff", body="hi", status="sent",
                                      provider_message_id="SM00000000000000000000000000000001")


def update(status: str, key: str | None = None, **extra) -> StatusUpdate:
    return StatusUpdate(provider_message_id="SM00000000000000000000000000000001",
                        status=MessageStatus(status),
                        raw_status=status, dedupe_key=key or f"SM1:{status}", **extra)


def test_a_late_sent_never_replaces_delivered(tenant_a, sent):
    with tenant_a.scope():
        assert apply_status_update(sent.channel, update("delivered"))
        assert not apply_status_update(sent.channel, update("sent"))
        sent.refresh_from_db()
        assert sent.status == "delivered" and sent.delivered_at is not None


def test_read_implies_delivered(tenant_a, sent):
    with tenant_a.scope():
        assert apply_status_update(sent.channel, update("read"))
        sent.refresh_from_db()
        assert sent.status == "read" and sent.read_at and sent.delivered_at


def test_the_same_receipt_twice_is_applied_once(tenant_a, sent):
    with tenant_a.scope():
        assert apply_status_update(sent.channel, update("delivered"))
        assert not apply_status_update(sent.channel, update("delivered"))
        assert DeliveryReceipt.objects.count() == 1


def test_a_receipt_for_an_unknown_message_is_ignored_and_not_recorded(tenant_a, sent):
    with tenant_a.scope():
        other = StatusUpdate(provider_message_id="SMunknown", status=MessageStatus.DELIVERED,
                             raw_status="delivered", dedupe_key="SMunknown:delivered")
        assert not apply_status_update(sent.channel, other)
        assert not DeliveryReceipt.objects.exists()


def test_a_failure_stores_the_error_code_and_text_encrypted(tenant_a, sent):
    with tenant_a.scope():
        apply_status_update(sent.channel, update("undelivered", error_code="30003",
                                                 error_message="Unreachable destination handset"))
        sent.refresh_from_db()
        assert (sent.status, sent.error_code) == ("undelivered", "30003")
        assert sent.error_message == "Unreachable destination handset" and sent.failed_at


def test_a_late_twilio_21610_marks_the_contact_opted_out(tenant_a, sent):
    pairs = twilio_status(message_sid=sent.provider_message_id, status="failed", from_="+14155550100",
                          to=PATIENT, error_code="21610")
    assert post_twilio(sent.channel, pairs).status_code == 200
    with tenant_a.scope():
        sent.refresh_from_db()
        assert sent.status == "failed" and sent.error_code == "21610"
        state = consent_state(sent.contact, "sms")
        assert (state.opted_in, state.source) == (False, "provider:opt_out")


def test_failure_outcome_opted_out_from_any_provider(tenant_a, sent):
    with tenant_a.scope():
        apply_status_update(sent.channel, update("failed", error_code="x",
                                                 failure_outcome=SendOutcome.OPTED_OUT))
        sent.contact.refresh_from_db()
        assert consent_state(sent.contact, "sms").opted_in is False


def test_a_receipts_lookup_uses_the_unique_index_even_in_a_generic_plan(tenant_a):
    """Without the index's condition written out: a walk of the channel's messages."""
    from messaging.services.statuses import by_provider_id
    from tests.plans import generic_plan

    with tenant_a.scope():
        channel = make_channel(tenant_a.org)
        sql, params = by_provider_id(channel, "SM0123").order_by("pk")[:1].query.sql_with_params()
    assert "message_unique_provider_id" in generic_plan(sql, params)
