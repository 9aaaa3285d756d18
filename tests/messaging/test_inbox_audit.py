"""What the inbox and the simulator show is audited exactly once per view, not once per poll:

- a thread: one CONVERSATION_VIEWED per browser session and thread, whether opened, re-rendered
  after a refusal or polled (polling reads through the same selector);
- the inbox list: one INBOX_LISTED per page (filter kind and count, never names or query text),
  its polling once per session and filter;
- the simulator: its number suggestions one event per page, the phone's messages one per session.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import Message
from tests.factories import ContactFactory
from tests.messaging.test_inbox_views import make_conversation, thread_url
from tests.messaging.test_simulator_views import PATIENT, choose, send, sim_channel

pytestmark = pytest.mark.django_db
BACKGROUND = {"HTTP_X_CARERELAY_BACKGROUND": "1"}


def events(tenant, action, **filters) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def poll_thread(client, conversation, after=0):
    return client.get(reverse("messaging:thread_updates", args=[conversation.pk]), {"after": after},
                      HTTP_X_CARERELAY_BACKGROUND="1")


# --- threads ------------------------------------------------------------------------------------
def test_a_thread_open_and_polled_is_audited_once_per_session(tenant_a):
    conversation = make_conversation(tenant_a)
    client = tenant_a.client_for("staff")
    assert client.get(thread_url(conversation)).status_code == 200
    for _ in range(5):
        assert poll_thread(client, conversation).status_code == 200
    client.get(thread_url(conversation))  # a reload in the same session
    viewed = events(tenant_a, AuditAction.CONVERSATION_VIEWED, target_id=str(conversation.pk))
    assert len(viewed) == 1
    assert viewed[0].actor_id == str(tenant_a.staff.pk)


def test_polling_alone_is_a_view_and_is_audited_once(tenant_a):
    """A poll shows message bodies too: without an opened page it still records, once."""
    conversation = make_conversation(tenant_a)
    client = tenant_a.client_for("viewer")
    for _ in range(3):
        poll_thread(client, conversation)
    assert len(events(tenant_a, AuditAction.CONVERSATION_VIEWED, target_id=str(conversation.pk))) == 1


def test_a_new_session_or_another_thread_is_audited_again(tenant_a):
    first = make_conversation(tenant_a)
    second = make_conversation(tenant_a, first_name="Grace")
    client = tenant_a.client_for("staff")
    client.get(thread_url(first))
    client.get(thread_url(second))
    tenant_a.client_for("staff").get(thread_url(first))  # a second browser session
    assert len(events(tenant_a, AuditAction.CONVERSATION_VIEWED, target_id=str(first.pk))) == 2
    assert len(events(tenant_a, AuditAction.CONVERSATION_VIEWED, target_id=str(second.pk))) == 1


def test_a_refused_reply_re_renders_the_thread_without_a_second_view_event(tenant_a):
    conversation = make_conversation(tenant_a)
    client = tenant_a.client_for("staff")
    client.get(thread_url(conversation))
    response = client.post(reverse("messaging:reply", args=[conversation.pk]), {"body": "   "})
    assert response.status_code == 200 and "Type a message before sending." in response.content.decode()
    assert len(events(tenant_a, AuditAction.CONVERSATION_VIEWED)) == 1


def test_another_organisations_thread_polled_records_nothing(tenant_a, tenant_b):
    theirs = make_conversation(tenant_b)
    assert poll_thread(tenant_a.client_for("staff"), theirs).status_code == 404
    assert events(tenant_b, AuditAction.CONVERSATION_VIEWED) == []


# --- the inbox list -----------------------------------------------------------------------------
def test_each_inbox_page_writes_one_list_viewed_event_with_counts_only(tenant_a):
    make_conversation(tenant_a, first_name="Ada")
    make_conversation(tenant_a, first_name="Grace")
    client = tenant_a.client_for("staff")
    client.get(reverse("messaging:inbox"))
    client.get(reverse("messaging:inbox"), {"view": "unassigned"})
    listed = events(tenant_a, AuditAction.INBOX_LISTED)
    assert [e.detail for e in listed] == [
        {"view": "all", "count": 2, "polling": False},
        {"view": "unassigned", "count": 2, "polling": False},
    ]
    assert all(e.actor_id == str(tenant_a.staff.pk) and e.target_type == "" for e in listed)


def test_list_viewed_detail_never_holds_query_text_or_values(tenant_a):
    make_conversation(tenant_a, first_name="Ada")
    client = tenant_a.client_for("staff")
    # Whatever arrives in the query string, only the known filter kind is recorded.
    client.get(reverse("messaging:inbox"), {"view": "Ada Lovelace +14155550123", "q": "Ada Lovelace"})
    (event,) = events(tenant_a, AuditAction.INBOX_LISTED)
    assert set(event.detail) == {"view", "count", "polling"}
    assert event.detail["view"] == "all"
    stored = json.dumps(event.detail)
    assert "Ada" not in stored and "Lovelace" not in stored and "4155550123" not in stored


def test_list_polling_adds_no_event_after_the_page_and_one_for_a_filter_not_yet_shown(tenant_a):
    make_conversation(tenant_a)
    client = tenant_a.client_for("staff")
    client.get(reverse("messaging:inbox"))
    for _ in range(4):
        client.get(reverse("messaging:inbox_updates"), {"view": "all"}, **BACKGROUND)
    assert len(events(tenant_a, AuditAction.INBOX_LISTED)) == 1
    for _ in range(3):
        client.get(reverse("messaging:inbox_updates"), {"view": "closed"}, **BACKGROUND)
    listed = events(tenant_a, AuditAction.INBOX_LISTED)
    assert [e.detail for e in listed][1:] == [{"view": "closed", "count": 0, "polling": True}]


# --- the simulator ------------------------------------------------------------------------------
def test_the_simulators_suggestions_are_audited_per_page_with_their_count(tenant_a):
    sim_channel(tenant_a)
    with tenant_a.scope():
        ContactFactory(organization=tenant_a.org, phone="+14155550101", first_name="Ada", last_name="L")
        ContactFactory(organization=tenant_a.org, phone="+14155550102", first_name="Bob", last_name="M")
    client = tenant_a.client_for("staff")
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert 'label="Ada L"' in page
    client.get(reverse("messaging:simulator"))
    listed = events(tenant_a, AuditAction.SIMULATOR_SUGGESTIONS_LISTED)
    assert [e.detail for e in listed] == [{"count": 2}, {"count": 2}]
    assert all(e.actor_id == str(tenant_a.staff.pk) for e in listed)


def test_the_simulated_phone_viewed_and_polled_is_audited_once_per_session(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    send(client, "hello")
    client.get(reverse("messaging:simulator"))
    for _ in range(4):
        client.get(reverse("messaging:simulator_updates"), {"after": 0}, **BACKGROUND)
    client.get(reverse("messaging:simulator"))
    viewed = events(tenant_a, AuditAction.SIMULATOR_VIEWED)
    assert len(viewed) == 1
    assert "4155550123" not in json.dumps(viewed[0].detail)


# --- the simulator's session --------------------------------------------------------------------
def _session_data(client) -> str:
    """What the session table holds for this browser, decoded."""
    row = Session.objects.get(session_key=client.session.session_key)
    return json.dumps(row.get_decoded())


def test_the_session_keeps_ids_never_the_phone_number(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel, phone="(415) 555-0123")
    send(client, "Is the clinic open?")
    client.get(reverse("messaging:simulator"))
    client.get(reverse("messaging:simulator_updates"), **BACKGROUND)
    stored = _session_data(client)
    assert "4155550123" not in stored and "555-0123" not in stored
    saved = client.session["messaging.simulator"]
    with tenant_a.scope():
        message = Message.objects.get(channel=channel, direction="inbound")
    assert saved == {"channel": channel.pk, "contact": message.contact_id}
    # The page still shows the number it plays (read from the contact's encrypted column).
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert f'data-testid="simulator-number">{PATIENT}' in page


def test_a_session_naming_another_organisations_contact_shows_nothing(tenant_a, tenant_b):
    channel = sim_channel(tenant_a)
    with tenant_b.scope():
        theirs = ContactFactory(organization=tenant_b.org, phone="+14155550177", first_name="Bertha")
    client = tenant_a.client_for("staff")
    session = client.session
    session["messaging.simulator"] = {"channel": channel.pk, "contact": theirs.pk}
    session.save()
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert "Bertha" not in page and "4155550177" not in page
    assert client.get(reverse("messaging:simulator_updates")).json() == {"messages": [], "statuses": []}


def test_choosing_a_new_number_creates_its_contact_once_and_reuses_it(tenant_a):
    from contacts.models import Contact

    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    choose(client, channel, phone="+1 415 555 0123")  # the same number, typed differently
    with tenant_a.scope():
        (contact,) = Contact.objects.all()
        assert contact.phone == PATIENT and contact.origin == "inbound"
    assert client.session["messaging.simulator"]["contact"] == contact.pk
    created = events(tenant_a, AuditAction.CONTACT_CREATED)
    assert len(created) == 1 and created[0].actor_id == str(tenant_a.staff.pk)


def test_choosing_a_known_patients_number_plays_that_patient(tenant_a):
    from contacts.models import Contact

    channel = sim_channel(tenant_a)
    with tenant_a.scope():
        known = ContactFactory(organization=tenant_a.org, phone=PATIENT, first_name="Grace", last_name="H")
    client = tenant_a.client_for("staff")
    choose(client, channel)
    assert client.session["messaging.simulator"] == {"channel": channel.pk, "contact": known.pk}
    page = client.get(reverse("messaging:simulator")).content.decode()
    assert f'data-testid="simulator-number">{PATIENT} · Grace H' in page
    with tenant_a.scope():
        assert Contact.objects.count() == 1  # no second contact for a known number
