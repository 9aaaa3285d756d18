"""Every public selector and service of the inbox, simulator, canned responses and WhatsApp
templates checks its own actor: a wrong role (an actor lacking exactly the permission needed)
is refused, and another organisation's actor never reaches organisation A's rows.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.actor import ALL_PERMISSIONS, Actor, actor_for
from accounts.roles import Perm
from messaging import selectors
from messaging.models import CannedResponse, Channel, Conversation, Message, WhatsAppTemplate
from messaging.services import canned, conversations, templates
from tests.factories import ContactFactory
from tests.messaging.test_inbox_views import make_conversation

pytestmark = pytest.mark.django_db


@dataclass
class Rows:
    """Organisation A's rows every case acts on."""

    conversation: Conversation
    whatsapp: Channel
    simulator: Channel
    contact: Any
    canned: CannedResponse
    template: WhatsAppTemplate


@pytest.fixture
def rows(tenant_a) -> Rows:
    conversation = make_conversation(tenant_a, first_name="Ada", unread=2)
    whatsapp = make_conversation(tenant_a, kind="whatsapp").channel
    with tenant_a.scope():
        simulator = Channel.objects.create(organization=tenant_a.org, name="Sim", provider="simulator",
                                           address="+15005550007", webhook_secret="s")
        contact = ContactFactory(organization=tenant_a.org, phone="+14155560177", first_name="Sim")
        Message.objects.create(organization=tenant_a.org, channel=simulator, contact=contact,
                               direction="inbound", origin="patient", body="hi", status="received",
                               remote_address=contact.phone, remote_address_index=contact.phone_index)
        canned_row = CannedResponse.objects.create(organization=tenant_a.org, title="Hours", body="8am")
        template = WhatsAppTemplate.objects.create(organization=tenant_a.org, channel=whatsapp,
                                                   name="reminder", parameter_count=1)
    return Rows(conversation, whatsapp, simulator, contact, canned_row, template)


# name -> (permission needed, call(actor, rows)). "Listing" cases answer another organisation
# with its own (empty) data rather than a refusal: ``lists`` says so.
CASES: dict[str, tuple[Perm, Any]] = {
    "selectors.inbox_conversations": (Perm.INBOX_VIEW, lambda a, r: selectors.inbox_conversations(
        actor=a, view="all")),
    "selectors.unread_total": (Perm.INBOX_VIEW, lambda a, r: selectors.unread_total(actor=a)),
    "selectors.get_conversation": (Perm.INBOX_VIEW, lambda a, r: selectors.get_conversation(
        conversation_id=r.conversation.pk, actor=a)),
    "selectors.conversation_for_action": (Perm.MESSAGES_SEND, lambda a, r: selectors.conversation_for_action(
        conversation_id=r.conversation.pk, actor=a, perm=Perm.MESSAGES_SEND)),
    "selectors.thread_messages": (Perm.INBOX_VIEW, lambda a, r: list(selectors.thread_messages(
        actor=a, conversation=r.conversation))),
    "selectors.messages_since": (Perm.INBOX_VIEW, lambda a, r: list(selectors.messages_since(
        actor=a, conversation=r.conversation, after_id=0))),
    "selectors.whatsapp_channels": (Perm.CHANNELS_MANAGE, lambda a, r: list(selectors.whatsapp_channels(
        actor=a))),
    "selectors.simulator_channels": (Perm.SIMULATOR_USE, lambda a, r: selectors.simulator_channels(actor=a)),
    "selectors.simulator_channel": (Perm.SIMULATOR_USE, lambda a, r: selectors.simulator_channel(
        actor=a, channel_id=r.simulator.pk)),
    "selectors.simulator_contact": (Perm.SIMULATOR_USE, lambda a, r: selectors.simulator_contact(
        actor=a, contact_id=r.contact.pk)),
    "selectors.simulator_contact_for_phone": (Perm.SIMULATOR_USE, lambda a, r:
                                              selectors.simulator_contact_for_phone(
                                                  actor=a, e164="+14155550123")),
    "selectors.simulator_suggestions": (Perm.SIMULATOR_USE, lambda a, r: selectors.simulator_suggestions(
        actor=a)),
    "selectors.simulator_phone_messages": (Perm.SIMULATOR_USE, lambda a, r: list(
        selectors.simulator_phone_messages(actor=a, channel=r.simulator, contact=r.contact))),
    "conversations.assign_conversation": (Perm.CONVERSATIONS_ASSIGN, lambda a, r:
                                          conversations.assign_conversation(
                                              conversation=r.conversation, assignee=None, actor=a)),
    "conversations.close_conversation": (Perm.CONVERSATIONS_ASSIGN, lambda a, r:
                                         conversations.close_conversation(conversation=r.conversation,
                                                                          actor=a)),
    "conversations.reopen_conversation": (Perm.CONVERSATIONS_ASSIGN, lambda a, r:
                                          conversations.reopen_conversation(conversation=r.conversation,
                                                                            actor=a)),
    "conversations.mark_conversation_read": (Perm.INBOX_VIEW, lambda a, r:
                                             conversations.mark_conversation_read(conversation=r.conversation,
                                                                                  actor=a)),
    "conversations.open_conversation": (Perm.MESSAGES_SEND, lambda a, r: conversations.open_conversation(
        channel=r.simulator, contact=r.contact, actor=a)),
    "canned.canned_responses": (Perm.INBOX_VIEW, lambda a, r: canned.canned_responses(actor=a)),
    "canned.get_canned_response": (Perm.CHANNELS_MANAGE, lambda a, r: canned.get_canned_response(
        actor=a, canned_id=r.canned.pk)),
    "canned.create_canned_response": (Perm.CHANNELS_MANAGE, lambda a, r: canned.create_canned_response(
        actor=a, title="Parking", body="At the back")),
    "canned.update_canned_response": (Perm.CHANNELS_MANAGE, lambda a, r: canned.update_canned_response(
        actor=a, canned=r.canned, title="Hours", body="changed")),
    "canned.delete_canned_response": (Perm.CHANNELS_MANAGE, lambda a, r: canned.delete_canned_response(
        actor=a, canned=r.canned)),
    "templates.active_templates": (Perm.INBOX_VIEW, lambda a, r: templates.active_templates(
        actor=a, channel=r.whatsapp)),
    "templates.create_whatsapp_template": (Perm.CHANNELS_MANAGE, lambda a, r:
                                           templates.create_whatsapp_template(actor=a, channel=r.whatsapp,
                                                                              name="new_one")),
    "templates.update_whatsapp_template": (Perm.CHANNELS_MANAGE, lambda a, r:
                                           templates.update_whatsapp_template(actor=a, template=r.template,
                                                                              preview="changed")),
    "templates.delete_whatsapp_template": (Perm.CHANNELS_MANAGE, lambda a, r:
                                           templates.delete_whatsapp_template(actor=a, template=r.template)),
    "selectors.partner_channels": (Perm.INBOX_VIEW, lambda a, r: list(selectors.partner_channels(actor=a))),
    "selectors.active_channel_choices": (Perm.MESSAGES_SEND, lambda a, r: list(
        selectors.active_channel_choices(actor=a))),
    "selectors.sendable_template": (Perm.MESSAGES_SEND, lambda a, r: selectors.sendable_template(
        actor=a, template_id=r.template.pk)),
    "selectors.setup_channels": (Perm.CHANNELS_MANAGE, lambda a, r: list(selectors.setup_channels(actor=a))),
    "selectors.setup_channel": (Perm.CHANNELS_MANAGE, lambda a, r: selectors.setup_channel(
        actor=a, channel_id=r.whatsapp.pk)),
}
# Cases that list the actor's own organisation: another organisation gets its own (empty) answer.
LISTS = {"selectors.inbox_conversations", "selectors.unread_total", "selectors.simulator_channels",
         "selectors.whatsapp_channels", "selectors.partner_channels", "selectors.setup_channels",
         "selectors.active_channel_choices",
         "selectors.simulator_channel", "selectors.simulator_contact",
         "selectors.simulator_contact_for_phone",
         "selectors.simulator_suggestions", "canned.canned_responses", "canned.create_canned_response"}
# Pure helpers on an already-read conversation (no query, no PHI read) and the shared check.
NOT_READS = {"selectors.window_closes_at", "selectors.window_open", "selectors.require_actor",
             "selectors.contact_label"}
MODULES = {"selectors": selectors, "conversations": conversations, "canned": canned, "templates": templates}


def test_every_public_selector_and_service_is_in_the_matrix():
    public = {f"{name}.{fn}" for name, module in MODULES.items()
              for fn, obj in vars(module).items()
              if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not fn.startswith("_")}
    assert public - NOT_READS == set(CASES)


def _unchanged(tenant, rows: Rows) -> None:
    with tenant.scope():
        conversation = Conversation.objects.get(pk=rows.conversation.pk)
        assert (conversation.status, conversation.unread_count) == ("open", 2)
        assert CannedResponse.objects.get(pk=rows.canned.pk).body == "8am"
        assert WhatsAppTemplate.objects.get(pk=rows.template.pk).preview == ""
        assert not CannedResponse.objects.filter(title="Parking").exists()
        assert not WhatsAppTemplate.objects.filter(name="new_one").exists()


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_actor_without_the_permission_is_refused(tenant_a, rows, name):
    perm, call = CASES[name]
    # An API key holding every permission but this one: proves exactly this one is checked.
    actor = Actor.api_key(key_id="k1", organization_id=tenant_a.org.pk, permissions=ALL_PERMISSIONS - {perm})
    with tenant_a.scope():
        if name in ("selectors.unread_total",):
            assert call(actor, rows) == 0
        else:
            with pytest.raises(PermissionDenied):
                call(actor, rows)
    _unchanged(tenant_a, rows)


@pytest.mark.parametrize("name", sorted(CASES))
def test_another_organisations_actor_never_reaches_organisation_a(tenant_a, tenant_b, rows, name):
    _, call = CASES[name]
    actor = actor_for(tenant_b.owner, tenant_b.org)
    with tenant_b.scope():
        if name in LISTS:
            result = call(actor, rows)
            if isinstance(result, list):
                assert all(getattr(row, "organization_id", tenant_b.org.pk) == tenant_b.org.pk
                           for row in result)
                assert "Ada" not in str([vars(r) for r in result if hasattr(r, "__dict__")])
            elif isinstance(result, int):
                assert result == 0
            else:
                assert result is None or result.organization_id == tenant_b.org.pk
        else:
            with pytest.raises((PermissionDenied, Http404)):
                call(actor, rows)
    _unchanged(tenant_a, rows)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_right_actor_is_served(tenant_a, rows, name):
    """The matrix can fail: the same calls succeed for organisation A's owner."""
    _, call = CASES[name]
    with tenant_a.scope():
        call(actor_for(tenant_a.owner, tenant_a.org), rows)


def test_no_actor_is_refused(tenant_a, rows):
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        selectors.get_conversation(conversation_id=rows.conversation.pk, actor=None)
