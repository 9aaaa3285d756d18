"""Staff settle a send in doubt ("unknown — check") after looking in the provider's log: it went
out, send it again, or leave it unsent — each audited, none of them sending blind twice."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from contacts.services import set_consent
from messaging.models import Conversation, Message
from messaging.providers import MessageStatus, StatusUpdate
from messaging.services import dispatch
from messaging.services.statuses import apply_status_update
from messaging.services.unknown_sends import SettleRefused, settle_unknown_send
from tests.factories import system_actor
from tests.fakes import FakeTwilio
from tests.messaging.backend_helpers import make_channel
from tests.messaging.test_dispatch import SETTING, queued, sends

pytestmark = pytest.mark.django_db


@pytest.fixture
def twilio(settings):
    fake = FakeTwilio().start()
    setattr(settings, SETTING["twilio"], fake.api_base_url)
    yield fake
    fake.stop()


def in_doubt(tenant, provider="simulator") -> Message:
    """An outbound message an interrupted send left "unknown" (what dispatch.reconcile parks)."""
    with tenant.scope():
        message = queued(tenant.org, make_channel(tenant.org, provider))
        message.attempts = 3
        dispatch.mark_unknown(message, "no answer")
        message.refresh_from_db()
    return message


def settle_url(message) -> str:
    return reverse("messaging:settle_unknown", args=[message.conversation_id, message.pk])


def settled_events(tenant) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(action=AuditAction.UNKNOWN_SEND_SETTLED))


def test_the_thread_offers_staff_the_three_answers_and_viewers_none(tenant_a):
    message = in_doubt(tenant_a)
    thread = reverse("messaging:thread", args=[message.conversation_id])
    page = tenant_a.client_for("staff").get(thread).content.decode()
    assert 'data-testid="settle-unknown"' in page and settle_url(message) in page
    for value in ("went_out", "send_again", "not_sent"):
        assert f'value="{value}"' in page
    assert 'data-testid="settle-unknown"' not in tenant_a.client_for("viewer").get(thread).content.decode()


def test_it_went_out_marks_it_sent_with_the_providers_id_and_sends_nothing(tenant_a, twilio):
    message = in_doubt(tenant_a, "twilio")
    response = tenant_a.client_for("staff").post(
        settle_url(message), {"settlement": "went_out", "provider_message_id": "SM0123456789abcdef"})
    assert response.status_code == 302
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == "SM0123456789abcdef"
    assert message.error_code == "" and message.sent_at is not None
    assert sends(twilio) == []
    [event] = settled_events(tenant_a)
    assert event.actor_id == str(tenant_a.member("staff").pk)
    assert event.detail == {"message_id": message.pk, "settlement": "went_out", "provider_id_given": True}
    # Later receipts bind to it by the id staff copied.
    update = StatusUpdate(provider_message_id="SM0123456789abcdef", status=MessageStatus.DELIVERED,
                          raw_status="delivered", dedupe_key="SM0123456789abcdef:delivered")
    with tenant_a.scope():
        assert apply_status_update(message.channel, update) is True
        message.refresh_from_db()
    assert message.status == "delivered"


def test_went_out_without_an_id_still_takes_a_receipt_naming_our_reference(tenant_a):
    message = in_doubt(tenant_a, "whatsapp_cloud")
    with tenant_a.scope():
        settle_unknown_send(actor=actor_for(tenant_a.member("staff"), tenant_a.org), message_id=message.pk,
                            settlement="went_out")
        update = StatusUpdate(provider_message_id="wamid.LATE", status=MessageStatus.READ, raw_status="read",
                              dedupe_key="wamid.LATE:read", correlation_data=f"msg-{message.pk}")
        assert apply_status_update(message.channel, update) is True
        message.refresh_from_db()
    assert message.status == "read" and message.provider_message_id == "wamid.LATE"


def test_send_again_delivers_it_once_through_the_usual_path(tenant_a, twilio,
                                                            django_capture_on_commit_callbacks):
    message = in_doubt(tenant_a, "twilio")
    with django_capture_on_commit_callbacks(execute=True):
        tenant_a.client_for("staff").post(settle_url(message), {"settlement": "send_again"})
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == twilio.created_sids[0]
    assert len(sends(twilio)) == 1 and message.attempts == 1  # a fresh attempts budget
    [event] = settled_events(tenant_a)
    assert event.detail["settlement"] == "send_again"


def test_send_again_to_a_patient_who_opted_out_since_sends_nothing(tenant_a, twilio,
                                                                    django_capture_on_commit_callbacks):
    message = in_doubt(tenant_a, "twilio")
    with tenant_a.scope():
        set_consent(actor=system_actor(tenant_a.org), contact=message.contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
    with django_capture_on_commit_callbacks(execute=True):
        tenant_a.client_for("staff").post(settle_url(message), {"settlement": "send_again"})
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "opted_out"
    assert sends(twilio) == []


def test_leave_it_unsent_fails_it_with_the_reason(tenant_a):
    message = in_doubt(tenant_a)
    response = tenant_a.client_for("admin").post(settle_url(message), {"settlement": "not_sent"}, follow=True)
    assert "Marked as not sent" in response.content.decode()
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "not_sent_staff"
    assert "chose not to send it again" in message.error_message and message.failed_at is not None


def test_a_message_a_receipt_settled_first_is_not_settled_again(tenant_a):
    message = in_doubt(tenant_a)
    client = tenant_a.client_for("staff")
    client.post(settle_url(message), {"settlement": "not_sent"})
    page = client.post(settle_url(message), {"settlement": "send_again"}, follow=True).content.decode()
    assert "no longer in doubt" in page
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "failed"
    assert len(settled_events(tenant_a)) == 1


@pytest.mark.parametrize("data", [{"settlement": "resend_blindly"}, {},
                                  {"settlement": "send_again", "provider_message_id": "SM123"},
                                  {"settlement": "went_out", "provider_message_id": "SM 12<script>"}])
def test_a_bad_answer_changes_nothing(tenant_a, data):
    message = in_doubt(tenant_a)
    tenant_a.client_for("staff").post(settle_url(message), data)
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "unknown" and settled_events(tenant_a) == []


def test_the_service_refuses_a_provider_id_for_a_message_that_did_not_go_out(tenant_a):
    message = in_doubt(tenant_a)
    with tenant_a.scope(), pytest.raises(SettleRefused) as refused:
        settle_unknown_send(actor=actor_for(tenant_a.member("staff"), tenant_a.org), message_id=message.pk,
                            settlement="not_sent", provider_message_id="SM123")
    assert refused.value.code == "provider_message_id"


def test_viewers_cannot_settle(tenant_a):
    message = in_doubt(tenant_a)
    response = tenant_a.client_for("viewer").post(settle_url(message), {"settlement": "went_out"})
    assert response.status_code == 403
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.status == "unknown"


def test_another_organisations_message_or_another_conversations_is_404(tenant_a, tenant_b):
    theirs = in_doubt(tenant_b)
    mine = in_doubt(tenant_a)
    client = tenant_a.client_for("owner")
    assert client.post(settle_url(theirs), {"settlement": "went_out"}).status_code == 404
    # Their message under my conversation's URL: still not found.
    url = reverse("messaging:settle_unknown", args=[mine.conversation_id, theirs.pk])
    assert client.post(url, {"settlement": "went_out"}).status_code == 404
    with tenant_a.scope():
        other = Conversation.objects.create(organization=tenant_a.org, channel=mine.channel,
                                            contact=mine.contact, status="closed")
    url = reverse("messaging:settle_unknown", args=[other.pk, mine.pk])
    assert client.post(url, {"settlement": "went_out"}).status_code == 404
    with scopes_disabled():
        assert Message.objects.get(pk=theirs.pk).status == "unknown"
        assert Message.objects.get(pk=mine.pk).status == "unknown"
