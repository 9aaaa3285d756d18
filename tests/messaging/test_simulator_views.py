"""The simulator: staff play a patient's phone; what they type goes through the real webhook pipeline."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit import AuditAction
from audit.models import AuditEvent
from contacts.models import Contact
from contacts.selectors import find_by_phone
from messaging.models import Channel, Conversation, Message
from messaging.services.outbound import send_test_message
from tests.factories import ContactFactory, system_actor
from tests.messaging.backend_helpers import as_member

pytestmark = pytest.mark.django_db

PATIENT = "+14155550123"


def sim_channel(tenant, **extra) -> Channel:
    with tenant.scope():
        return Channel.objects.create(organization=tenant.org, name="Simulator", provider="simulator",
                                      address="+15005550006", webhook_secret="sim-secret",
                                      rate_limit_per_second=1000, **extra)


def choose(client, channel, phone=PATIENT):
    return client.post(reverse("messaging:simulator_select"), {"channel": channel.pk, "phone": phone})


def send(client, body):
    return client.post(reverse("messaging:simulator_send"), {"body": body})


@pytest.mark.parametrize("role,status", [("owner", 200), ("admin", 200), ("staff", 200), ("viewer", 403)])
def test_simulator_needs_the_simulator_permission(tenant_a, role, status):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for(role)
    assert client.get(reverse("messaging:simulator")).status_code == status
    assert choose(client, channel).status_code == (302 if status == 200 else 403)
    assert send(client, "hello").status_code == (302 if status == 200 else 403)
    assert client.get(reverse("messaging:simulator_updates")).status_code == status
    assert client.post(reverse("messaging:simulator_status"),
                       {"message": 1, "status": "delivered"}).status_code == (302 if status == 200 else 403)


def test_the_phone_number_never_travels_in_a_url(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    response = choose(client, channel)
    assert response["Location"] == reverse("messaging:simulator")
    assert "4155550123" not in response["Location"]
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert 'data-testid="simulator-number">+14155550123' in page
    poll = page.split('data-poll-url="')[1].split('"')[0]
    assert "4155550123" not in poll


def test_patient_text_becomes_an_inbound_message_a_new_contact_and_a_conversation(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    assert send(client, "Hi, is the clinic open today?").status_code == 302
    with tenant_a.scope():
        contact = find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                raw_phone=PATIENT)
        assert contact is not None and contact.origin == "inbound"
        message = Message.objects.get(channel=channel, direction="inbound")
        assert message.body == "Hi, is the clinic open today?"
        conversation = Conversation.objects.get(contact=contact, channel=channel)
        assert message.conversation == conversation and conversation.unread_count == 1
    # The staff inbox now lists it.
    rows = client.get(reverse("messaging:inbox"), {"view": "all"}).context["rows"]
    assert [row["id"] for row in rows] == [conversation.pk]


def test_stop_from_the_simulator_opts_the_patient_out_and_confirms(tenant_a):
    channel = sim_channel(tenant_a)
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org, phone=PATIENT, first_name="Grace")
    client = tenant_a.client_for("staff")
    choose(client, channel)
    send(client, "STOP")
    with tenant_a.scope():
        assert find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                             raw_phone=PATIENT).sms_opted_in is False
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert "unsubscribed" in page  # the STOP confirmation arrived on the phone


def test_phone_shows_what_carerelay_sent_that_number_only(tenant_a):
    channel = sim_channel(tenant_a)
    with tenant_a.scope():
        send_test_message(channel=channel, to_phone=PATIENT, actor=as_member(tenant_a, "admin"))
        send_test_message(channel=channel, to_phone="+14155550999", actor=as_member(tenant_a, "admin"))
    client = tenant_a.client_for("staff")
    choose(client, channel)
    response = client.get(reverse("messaging:simulator"))
    rows = response.context["rows"]
    assert len(rows) == 1 and rows[0]["direction"] == "outbound"
    assert "the channel Simulator works" in response.content.decode()


def test_showing_a_numbers_messages_is_audited_without_the_number(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    client.get(reverse("messaging:simulator"))
    with tenant_a.scope():
        events = list(AuditEvent.objects.filter(action=AuditAction.SIMULATOR_VIEWED))
    assert len(events) == 1
    assert events[0].actor_id == str(tenant_a.staff.pk)
    assert "4155550123" not in str(events[0].detail)


def test_simulator_updates_return_only_new_messages(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    send(client, "first")
    with tenant_a.scope():
        first = Message.objects.get(channel=channel, direction="inbound")
    send(client, "<b>second</b>")
    data = client.get(reverse("messaging:simulator_updates"), {"after": first.pk}).json()
    assert [m["body"] for m in data["messages"]] == ["<b>second</b>"]  # raw text, inserted with textContent


def test_another_organisations_channel_cannot_be_chosen(tenant_a, tenant_b):
    theirs = sim_channel(tenant_b)
    client = tenant_a.client_for("staff")
    response = choose(client, theirs)
    assert response.status_code == 302
    assert client.session.get("messaging.simulator") is None
    send(client, "hello")
    with tenant_b.scope():
        assert not Message.objects.filter(channel=theirs).exists()


def test_an_invalid_number_is_explained(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    response = client.post(reverse("messaging:simulator_select"), {"channel": channel.pk, "phone": "hello"},
                           follow=True)
    assert "international format" in response.content.decode()


def test_receipt_menu_marks_a_message_delivered_through_the_status_webhook(
        tenant_a, django_capture_on_commit_callbacks):
    channel = sim_channel(tenant_a)
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):  # the dispatch task runs after commit
            sent = send_test_message(channel=channel, to_phone=PATIENT, actor=as_member(tenant_a, "admin"))
        sent.refresh_from_db()
    assert sent.provider_message_id  # dispatched (eager Celery) to the simulator backend
    client = tenant_a.client_for("staff")
    choose(client, channel)
    client.post(reverse("messaging:simulator_status"), {"message": sent.pk, "status": "delivered"})
    with tenant_a.scope():
        sent.refresh_from_db()
    assert sent.status == "delivered"
    data = client.get(reverse("messaging:simulator_updates"), {"after": sent.pk}).json()
    assert {s["id"]: s["status"] for s in data["statuses"]}[sent.pk] == "delivered"


def test_receipts_only_for_messages_this_phone_received(tenant_a):
    channel = sim_channel(tenant_a)
    with tenant_a.scope():
        other = send_test_message(channel=channel, to_phone="+14155550999",
                                  actor=as_member(tenant_a, "admin"))
        before = Message.objects.get(pk=other.pk).status
    client = tenant_a.client_for("staff")
    choose(client, channel)
    response = client.post(reverse("messaging:simulator_status"), {"message": other.pk, "status": "failed"},
                           follow=True)
    assert "has not been handed to the simulator" in response.content.decode()
    with tenant_a.scope():
        assert Message.objects.get(pk=other.pk).status == before


def test_without_a_simulator_channel_the_page_explains_what_to_do(tenant_a):
    page = tenant_a.client_for("admin").get(reverse("messaging:simulator")).content.decode()
    assert "No simulator channel yet" in page
    assert reverse("messaging:channel_create", args=["simulator"]) in page


def test_demo_contacts_are_offered_as_numbers(tenant_a):
    sim_channel(tenant_a)
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org, phone="+14155550101", first_name="Ada", last_name="L")
    page = tenant_a.client_for("staff").get(reverse("messaging:simulator")).content.decode()
    assert '<option value="+14155550101" label="Ada L">' in page
    with tenant_a.scope():
        assert Contact.objects.count() == 1
