"""The staff inbox: list, thread, replies, WhatsApp templates, assignment, canned responses, polling.

Roles: viewers read (no controls, 403 on every POST); staff reply and assign; another
organisation's conversation id is a 404 everywhere.
"""

from __future__ import annotations

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import AuditAction
from audit.models import AuditEvent
from contacts.services import set_consent
from messaging.models import CannedResponse, Channel, Conversation, Message, WhatsAppTemplate
from messaging.segments import count_segments
from tests.factories import ContactFactory, system_actor

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "staff", "viewer"]
SENDERS = ["owner", "admin", "staff"]


def make_conversation(tenant, *, kind: str = "sms", body: str = "Can I move my appointment?",
                      first_name: str = "Ada", last_inbound_at=None, unread: int = 1, assigned_to=None):
    """A channel, a contact and an open conversation with one inbound message."""
    with tenant.scope():
        channel = Channel.objects.filter(organization=tenant.org, kind=kind).first()
        channel = channel or Channel.objects.create(
            organization=tenant.org, name=f"Front desk {kind}", provider="simulator", kind=kind,
            address="+15005550006", webhook_secret="sim-secret", rate_limit_per_second=1000)
        contact = ContactFactory(organization=tenant.org, first_name=first_name, last_name="Lovelace")
        now = timezone.now()
        conversation = Conversation.objects.create(
            organization=tenant.org, channel=channel, contact=contact, unread_count=unread,
            last_message_at=now, last_inbound_at=last_inbound_at or now, assigned_to=assigned_to)
        Message.objects.create(
            organization=tenant.org, conversation=conversation, channel=channel, contact=contact,
            direction="inbound", origin="patient", body=body, status="received",
            remote_address=contact.phone, remote_address_index=contact.phone_index)
    return conversation


def outbound(conversation, body="See you at 10.", status="sent", **extra) -> Message:
    return Message.objects.create(
        organization=conversation.organization, conversation=conversation, channel=conversation.channel,
        contact=conversation.contact, direction="outbound", origin="staff", body=body, status=status, **extra)


def audit_count(tenant, action, **filters) -> int:
    with tenant.scope():
        return AuditEvent.objects.filter(action=action, **filters).count()


def thread_url(conversation) -> str:
    return reverse("messaging:thread", args=[conversation.pk])


# --- reading ----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_inbox_with_the_patients_name(tenant_a, role):
    make_conversation(tenant_a, first_name="Ada")
    response = tenant_a.client_for(role).get(reverse("messaging:inbox"))
    assert response.status_code == 200
    assert "Ada Lovelace" in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_a_thread(tenant_a, role):
    conversation = make_conversation(tenant_a, body="My knee still hurts")
    response = tenant_a.client_for(role).get(thread_url(conversation))
    assert response.status_code == 200
    assert "My knee still hurts" in response.content.decode()


def test_viewer_gets_no_reply_or_assign_controls(tenant_a):
    conversation = make_conversation(tenant_a)
    page = tenant_a.client_for("viewer").get(thread_url(conversation)).content.decode()
    assert 'data-testid="reply-body"' not in page
    assert 'data-testid="assign-form"' not in page
    assert 'data-testid="close-conversation"' not in page
    assert 'data-testid="read-only-note"' in page


def test_staff_gets_reply_box_assign_and_close(tenant_a):
    conversation = make_conversation(tenant_a)
    page = tenant_a.client_for("staff").get(thread_url(conversation)).content.decode()
    assert 'data-testid="reply-body"' in page
    assert 'data-testid="assign-form"' in page
    assert 'data-testid="close-conversation"' in page


def test_opening_a_thread_is_audited_and_marks_it_read(tenant_a):
    conversation = make_conversation(tenant_a, unread=3)
    client = tenant_a.client_for("staff")
    assert client.get(reverse("messaging:inbox")).context["unread_total"] == 3
    client.get(thread_url(conversation))
    with tenant_a.scope():
        conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert audit_count(tenant_a, AuditAction.CONVERSATION_VIEWED, target_id=str(conversation.pk),
                       actor_id=str(tenant_a.staff.pk)) == 1
    assert client.get(reverse("messaging:inbox")).context["unread_total"] == 0


def test_navbar_shows_the_unread_badge(tenant_a):
    make_conversation(tenant_a, unread=2)
    page = tenant_a.client_for("staff").get(reverse("dashboard")).content.decode()
    assert 'data-testid="nav-unread">2<' in page


def test_filters_mine_unassigned_closed(tenant_a):
    mine = make_conversation(tenant_a, first_name="Mina", assigned_to=tenant_a.staff)
    free = make_conversation(tenant_a, first_name="Frida")
    closed = make_conversation(tenant_a, first_name="Clara")
    with tenant_a.scope():
        Conversation.objects.filter(pk=closed.pk).update(status="closed")
    client = tenant_a.client_for("staff")

    def names(view):
        return {row["id"] for row in client.get(reverse("messaging:inbox"), {"view": view}).context["rows"]}

    assert names("mine") == {mine.pk}
    assert names("unassigned") == {free.pk}
    assert names("all") == {mine.pk, free.pk}
    assert names("closed") == {closed.pk}


def test_messages_show_status_badges_and_the_providers_error(tenant_a):
    conversation = make_conversation(tenant_a)
    with tenant_a.scope():
        outbound(conversation, body="Delivered one", status="delivered")
        outbound(conversation, body="Failed one", status="failed", error_code="30007",
                 error_message="Carrier filtered the message")
    page = tenant_a.client_for("viewer").get(thread_url(conversation)).content.decode()
    assert 'data-status="delivered"' in page and ">Delivered<" in page
    assert 'data-status="failed"' in page
    assert "30007 — Carrier filtered the message" in page


# --- cross-organisation -------------------------------------------------------------------------
@pytest.mark.parametrize("name,method", [
    ("thread", "get"), ("thread_updates", "get"), ("reply", "post"), ("assign", "post"),
    ("close", "post"), ("reopen", "post"), ("send_template", "post"),
])
def test_another_organisations_conversation_is_not_found(tenant_a, tenant_b, name, method):
    theirs = make_conversation(tenant_b, body="Org B secret")
    client = tenant_a.client_for("staff")
    response = getattr(client, method)(reverse(f"messaging:{name}", args=[theirs.pk]), {"body": "hi"})
    assert response.status_code == 404
    assert "Org B secret" not in response.content.decode()
    with tenant_b.scope():
        assert Message.objects.filter(conversation=theirs).count() == 1


def test_other_organisations_conversations_are_not_listed(tenant_a, tenant_b):
    make_conversation(tenant_b, first_name="Bertha")
    page = tenant_a.client_for("owner").get(reverse("messaging:inbox"), {"view": "all"}).content.decode()
    assert "Bertha" not in page


# --- replying -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", SENDERS)
def test_staff_and_above_reply(tenant_a, role):
    conversation = make_conversation(tenant_a)
    response = tenant_a.client_for(role).post(reverse("messaging:reply", args=[conversation.pk]),
                                              {"body": "We can see you at 3pm."})
    assert response.status_code == 302
    assert response["Location"].startswith(thread_url(conversation))
    with tenant_a.scope():
        sent = Message.objects.get(conversation=conversation, direction="outbound")
    assert sent.body == "We can see you at 3pm."
    assert sent.sent_by == tenant_a.member(role)


@pytest.mark.parametrize("name,data", [
    ("reply", {"body": "hello"}), ("assign", {"assignee": ""}), ("close", {}), ("reopen", {}),
    ("send_template", {"template": "1"}),
])
def test_viewer_gets_403_on_every_post(tenant_a, name, data):
    conversation = make_conversation(tenant_a)
    response = tenant_a.client_for("viewer").post(reverse(f"messaging:{name}", args=[conversation.pk]), data)
    assert response.status_code == 403
    with tenant_a.scope():
        assert Message.objects.filter(conversation=conversation, direction="outbound").count() == 0
        assert Conversation.objects.get(pk=conversation.pk).status == "open"


def test_reply_line_breaks_are_sent_as_the_counter_counted_them(tenant_a):
    conversation = make_conversation(tenant_a)
    tenant_a.client_for("staff").post(reverse("messaging:reply", args=[conversation.pk]),
                                      {"body": "Line one\r\nLine two"})
    with tenant_a.scope():
        sent = Message.objects.get(conversation=conversation, direction="outbound")
    assert sent.body == "Line one\nLine two"
    assert sent.segments == count_segments("Line one\nLine two").segments


def test_empty_reply_asks_for_text(tenant_a):
    conversation = make_conversation(tenant_a)
    response = tenant_a.client_for("staff").post(reverse("messaging:reply", args=[conversation.pk]),
                                                 {"body": "   "})
    assert response.status_code == 200
    assert "Type a message before sending." in response.content.decode()


def test_reply_to_opted_out_patient_is_refused_with_the_reason_and_keeps_the_draft(tenant_a):
    conversation = make_conversation(tenant_a)
    with tenant_a.scope():
        set_consent(actor=system_actor(conversation.contact), contact=conversation.contact, channel="sms",
                    opted_in=False, source="keyword:STOP")
    client = tenant_a.client_for("staff")
    page = client.get(thread_url(conversation)).content.decode()
    assert 'data-testid="opted-out-warning"' in page
    response = client.post(reverse("messaging:reply", args=[conversation.pk]), {"body": "Are you there?"})
    text = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="send-refused"' in text
    assert "opted out" in text and "START" in text
    assert "Are you there?" in text  # the draft is still in the box
    with tenant_a.scope():
        assert not Message.objects.filter(conversation=conversation, direction="outbound").exists()


def test_reply_box_has_the_gsm_tables_for_the_live_counter(tenant_a):
    conversation = make_conversation(tenant_a)
    page = tenant_a.client_for("staff").get(thread_url(conversation)).content.decode()
    assert 'data-segment-counter' in page
    assert 'data-gsm-basic="64,163,36,165,' in page  # "@£$¥…" as code points
    assert 'data-gsm-extension="12,94,123,125,92,91,126,93,124,8364"' in page


# --- WhatsApp 24-hour window ---------------------------------------------------------------------
def test_whatsapp_outside_the_window_offers_templates_instead_of_a_reply_box(tenant_a):
    long_ago = timezone.now() - datetime.timedelta(hours=30)
    conversation = make_conversation(tenant_a, kind="whatsapp", last_inbound_at=long_ago)
    with tenant_a.scope():
        template = WhatsAppTemplate.objects.create(
            organization=tenant_a.org, channel=conversation.channel, name="appointment_reminder",
            preview="Hi {{1}}, your appointment is on {{2}}.", parameter_count=2)
    client = tenant_a.client_for("staff")
    page = client.get(thread_url(conversation)).content.decode()
    assert 'data-testid="template-picker"' in page
    assert "24-hour reply window is closed" in page
    closed_at = (long_ago + datetime.timedelta(hours=24)).strftime("%b %-d")
    assert closed_at in page
    assert 'data-testid="reply-body"' not in page
    assert "appointment_reminder" in page
    assert 'name="param_1"' in page and 'name="param_2"' in page and 'name="param_3"' not in page

    response = client.post(reverse("messaging:send_template", args=[conversation.pk]),
                           {"template": template.pk, "param_1": "Ada", "param_2": "Monday"})
    assert response.status_code == 302
    with tenant_a.scope():
        sent = Message.objects.get(conversation=conversation, direction="outbound")
    assert sent.template_name == "appointment_reminder"
    assert sent.body == "Hi Ada, your appointment is on Monday."


def test_template_needs_every_parameter(tenant_a):
    conversation = make_conversation(tenant_a, kind="whatsapp",
                                     last_inbound_at=timezone.now() - datetime.timedelta(days=3))
    with tenant_a.scope():
        template = WhatsAppTemplate.objects.create(organization=tenant_a.org, channel=conversation.channel,
                                                   name="reminder", preview="Hi {{1}}", parameter_count=1)
    response = tenant_a.client_for("staff").post(reverse("messaging:send_template", args=[conversation.pk]),
                                                 {"template": template.pk, "param_1": ""})
    assert "needs 1 value(s)" in response.content.decode()
    with tenant_a.scope():
        assert not Message.objects.filter(conversation=conversation, direction="outbound").exists()


def test_another_channels_template_is_not_a_choice(tenant_a, tenant_b):
    conversation = make_conversation(tenant_a, kind="whatsapp",
                                     last_inbound_at=timezone.now() - datetime.timedelta(days=3))
    other = make_conversation(tenant_b, kind="whatsapp")
    with tenant_b.scope():
        foreign = WhatsAppTemplate.objects.create(organization=tenant_b.org, channel=other.channel,
                                                  name="theirs", parameter_count=0)
    response = tenant_a.client_for("staff").post(reverse("messaging:send_template", args=[conversation.pk]),
                                                 {"template": foreign.pk})
    assert "Choose one of the approved templates." in response.content.decode()
    with tenant_a.scope():
        assert not Message.objects.filter(conversation=conversation, direction="outbound").exists()


def test_whatsapp_free_form_reply_outside_the_window_is_refused(tenant_a):
    conversation = make_conversation(tenant_a, kind="whatsapp",
                                     last_inbound_at=timezone.now() - datetime.timedelta(days=2))
    response = tenant_a.client_for("staff").post(reverse("messaging:reply", args=[conversation.pk]),
                                                 {"body": "Hello?"})
    assert "within 24 hours" in response.content.decode()


def test_whatsapp_inside_the_window_has_the_reply_box(tenant_a):
    conversation = make_conversation(tenant_a, kind="whatsapp", last_inbound_at=timezone.now())
    page = tenant_a.client_for("staff").get(thread_url(conversation)).content.decode()
    assert 'data-testid="reply-body"' in page
    assert 'data-testid="template-picker"' not in page


# --- assignment, close, reopen -----------------------------------------------------------------
def test_staff_assigns_to_a_colleague_and_it_shows_in_their_mine_view(tenant_a):
    conversation = make_conversation(tenant_a)
    tenant_a.client_for("staff").post(reverse("messaging:assign", args=[conversation.pk]),
                                      {"assignee": tenant_a.admin.pk})
    with tenant_a.scope():
        conversation.refresh_from_db()
    assert conversation.assigned_to == tenant_a.admin
    rows = tenant_a.client_for("admin").get(reverse("messaging:inbox"), {"view": "mine"}).context["rows"]
    assert [row["id"] for row in rows] == [conversation.pk]


def test_assignee_choices_are_members_who_can_reply(tenant_a, tenant_b):
    conversation = make_conversation(tenant_a)
    page = tenant_a.client_for("staff").get(thread_url(conversation)).content.decode()
    assert tenant_a.staff.display_name in page
    assert tenant_b.staff.display_name not in page
    assert f'value="{tenant_a.viewer.pk}"' not in page


@pytest.mark.parametrize("outsider_role", ["viewer_a", "staff_b"])
def test_cannot_assign_to_someone_outside_the_list(tenant_a, tenant_b, outsider_role):
    conversation = make_conversation(tenant_a)
    target = tenant_a.viewer if outsider_role == "viewer_a" else tenant_b.staff
    client = tenant_a.client_for("staff")
    response = client.post(reverse("messaging:assign", args=[conversation.pk]), {"assignee": target.pk},
                           follow=True)
    assert "Choose a member of your organisation." in response.content.decode()
    with tenant_a.scope():
        conversation.refresh_from_db()
    assert conversation.assigned_to is None


def test_close_and_reopen(tenant_a):
    conversation = make_conversation(tenant_a)
    client = tenant_a.client_for("staff")
    client.post(reverse("messaging:close", args=[conversation.pk]))
    with tenant_a.scope():
        assert Conversation.objects.get(pk=conversation.pk).status == "closed"
    page = client.get(thread_url(conversation)).content.decode()
    assert 'data-testid="reopen-conversation"' in page
    client.post(reverse("messaging:reopen", args=[conversation.pk]))
    with tenant_a.scope():
        assert Conversation.objects.get(pk=conversation.pk).status == "open"


# --- canned responses ---------------------------------------------------------------------------
def test_staff_insert_canned_responses_of_their_own_organisation(tenant_a, tenant_b):
    conversation = make_conversation(tenant_a)
    with tenant_a.scope():
        CannedResponse.objects.create(organization=tenant_a.org, title="Hours", body="We open at 8am.")
    with tenant_b.scope():
        CannedResponse.objects.create(organization=tenant_b.org, title="Theirs", body="Org B text")
    page = tenant_a.client_for("staff").get(thread_url(conversation)).content.decode()
    assert 'data-canned-body="We open at 8am."' in page
    assert "Org B text" not in page


@pytest.mark.parametrize("role,status", [("owner", 200), ("admin", 200), ("staff", 403), ("viewer", 403)])
def test_only_admins_manage_canned_responses(tenant_a, role, status):
    client = tenant_a.client_for(role)
    assert client.get(reverse("messaging:canned_responses")).status_code == status
    response = client.post(reverse("messaging:canned_responses"),
                           {"title": "Parking", "body": "Free at the back."})
    with tenant_a.scope():
        created = CannedResponse.objects.filter(title="Parking").exists()
    assert created is (status == 200)
    assert response.status_code == (302 if status == 200 else 403)


def test_admin_edits_and_deletes_a_canned_response(tenant_a, tenant_b):
    with tenant_a.scope():
        canned = CannedResponse.objects.create(organization=tenant_a.org, title="Hours", body="8am")
    client = tenant_a.client_for("admin")
    client.post(reverse("messaging:canned_response_edit", args=[canned.pk]),
                {"title": "Hours", "body": "9am"})
    with tenant_a.scope():
        assert CannedResponse.objects.get(pk=canned.pk).body == "9am"
    # Another organisation's admin cannot touch it.
    other = tenant_b.client_for("admin")
    assert other.post(reverse("messaging:canned_response_delete", args=[canned.pk])).status_code == 404
    client.post(reverse("messaging:canned_response_delete", args=[canned.pk]))
    with tenant_a.scope():
        assert not CannedResponse.objects.filter(pk=canned.pk).exists()


# --- live polling -------------------------------------------------------------------------------
def test_thread_updates_return_only_newer_messages_as_plain_text(tenant_a):
    conversation = make_conversation(tenant_a)
    client = tenant_a.client_for("viewer")
    with tenant_a.scope():
        first = Message.objects.get(conversation=conversation)
        newer = outbound(conversation, body='<img src=x onerror="alert(1)"> & "quotes"', status="sent")
    url = reverse("messaging:thread_updates", args=[conversation.pk])
    data = client.get(url, {"after": first.pk}).json()
    assert [m["id"] for m in data["messages"]] == [newer.pk]
    # Raw text: the JSON carries the characters themselves, never HTML entities — the
    # browser inserts them with textContent, so escaping here would show "&lt;" to staff.
    assert data["messages"][0]["body"] == '<img src=x onerror="alert(1)"> & "quotes"'
    assert "&lt;" not in json.dumps(data)
    assert data["messages"][0]["status_label"] == "Sent"
    assert client.get(url, {"after": newer.pk}).json()["messages"] == []


def test_thread_updates_carry_status_changes_of_earlier_messages(tenant_a):
    conversation = make_conversation(tenant_a)
    with tenant_a.scope():
        sent = outbound(conversation, status="sent")
        url = reverse("messaging:thread_updates", args=[conversation.pk])
        client = tenant_a.client_for("staff")
        sent.status, sent.error_code, sent.error_message = "undelivered", "30003", "Unreachable handset"
        sent.save()
    statuses = {s["id"]: s for s in client.get(url, {"after": sent.pk}).json()["statuses"]}
    assert statuses[sent.pk]["status"] == "undelivered"
    assert statuses[sent.pk]["error"] == "30003 — Unreachable handset"


def test_polling_marks_newly_arrived_messages_read_but_is_not_audited_each_time(tenant_a):
    conversation = make_conversation(tenant_a, unread=0)
    client = tenant_a.client_for("staff")
    client.get(thread_url(conversation))
    with tenant_a.scope():
        first = Message.objects.get(conversation=conversation)
        Message.objects.create(organization=tenant_a.org, conversation=conversation,
                               channel=conversation.channel, contact=conversation.contact,
                               direction="inbound", origin="patient", body="Another one", status="received")
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=1)
    views_before = audit_count(tenant_a, AuditAction.CONVERSATION_VIEWED)
    data = client.get(reverse("messaging:thread_updates", args=[conversation.pk]), {"after": first.pk}).json()
    assert [m["body"] for m in data["messages"]] == ["Another one"]
    with tenant_a.scope():
        assert Conversation.objects.get(pk=conversation.pk).unread_count == 0
    assert audit_count(tenant_a, AuditAction.CONVERSATION_VIEWED) == views_before


def test_list_updates_give_rows_and_unread_total(tenant_a, tenant_b):
    mine = make_conversation(tenant_a, first_name="Olga", unread=2)
    make_conversation(tenant_b, first_name="Bertha", unread=5)
    data = tenant_a.client_for("viewer").get(reverse("messaging:inbox_updates"), {"view": "all"}).json()
    assert [(row["id"], row["contact"], row["unread"]) for row in data["conversations"]] == \
        [(mine.pk, "Olga Lovelace", 2)]
    assert data["unread_total"] == 2


def test_polling_needs_sign_in(tenant_a, client):
    conversation = make_conversation(tenant_a)
    response = client.get(reverse("messaging:thread_updates", args=[conversation.pk]))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
