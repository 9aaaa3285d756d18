"""A prepared query answers exactly what its queryset answers, in the scope it runs in."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django_scopes import ScopeError, scope, scopes_disabled

from accounts.prepared_query import PreparedQuery
from messaging.models import Conversation, Message
from tests.factories import ContactFactory
from tests.messaging.backend_helpers import make_channel

pytestmark = pytest.mark.django_db


def _threads(conversation_id: int, channel_id: int):
    replied = Exists(Message.objects.filter(conversation_id=OuterRef("pk"), direction="outbound"))
    return (Conversation.objects.select_related("contact", "channel").annotate(replied=replied)
            .filter(pk=conversation_id, channel_id=channel_id)[:1])


THREAD = PreparedQuery(_threads, "conversation_id", "channel_id")


def _conversation_of(tenant, phone: str) -> Conversation:
    with tenant.scope():
        channel = make_channel(tenant.org)
        contact = ContactFactory(organization=tenant.org, phone=phone)
        contact.save()
        return Conversation.objects.create(organization=tenant.org, channel=channel, contact=contact)


def test_it_loads_what_the_queryset_loads(tenant_a):
    conversation = _conversation_of(tenant_a, "+14085550101")
    with tenant_a.scope():
        Message.objects.create(organization=tenant_a.org, conversation=conversation,
                               channel=conversation.channel, contact=conversation.contact,
                               direction="outbound", origin="staff", body="Hi", status="queued")
        expected = _threads(conversation.pk, conversation.channel_id).get()
        with CaptureQueriesContext(connection) as queries:
            prepared = THREAD.first(conversation_id=conversation.pk, channel_id=conversation.channel_id)
        assert len(queries) == 1  # the related rows and the annotation came in the one statement
    for field in Conversation._meta.concrete_fields:
        assert getattr(prepared, field.attname) == getattr(expected, field.attname), field.name
    assert prepared.replied is True and expected.replied is True
    assert prepared.contact.phone == "+14085550101"  # decrypted on load, as the ORM does
    assert prepared.channel.credentials == expected.channel.credentials
    assert not prepared._state.adding


def test_the_organisation_is_the_scope_it_runs_in_not_the_one_it_was_compiled_in(tenant_a, tenant_b):
    theirs = _conversation_of(tenant_a, "+14085550102")
    ours = _conversation_of(tenant_b, "+14085550103")
    with tenant_a.scope():  # compiled here, first
        assert THREAD.first(conversation_id=theirs.pk, channel_id=theirs.channel_id).pk == theirs.pk
    with tenant_b.scope():
        assert THREAD.first(conversation_id=theirs.pk, channel_id=theirs.channel_id) is None
        assert THREAD.first(conversation_id=ours.pk, channel_id=ours.channel_id).pk == ours.pk


def test_without_a_scope_it_refuses_and_with_scopes_disabled_it_sees_every_organisation(tenant_a):
    conversation = _conversation_of(tenant_a, "+14085550104")
    with pytest.raises(ScopeError):
        THREAD.first(conversation_id=conversation.pk, channel_id=conversation.channel_id)
    with scopes_disabled():
        assert THREAD.first(conversation_id=conversation.pk, channel_id=conversation.channel_id) is not None


def test_a_scope_of_another_shape_runs_the_ordinary_queryset(tenant_a, tenant_b):
    conversation = _conversation_of(tenant_a, "+14085550105")
    with scope(organization=[tenant_a.org.pk, tenant_b.org.pk]):
        found = THREAD.first(conversation_id=conversation.pk, channel_id=conversation.channel_id)
    assert found.pk == conversation.pk


def test_ids_no_row_can_have_find_nothing(tenant_a):
    with tenant_a.scope():
        assert THREAD.first(conversation_id=2**70, channel_id=1) is None


def test_a_value_the_sql_does_not_carry_is_refused():
    ignoring = PreparedQuery(lambda conversation_id, channel_id: Conversation.objects.filter(
        pk=conversation_id), "conversation_id", "channel_id")
    with scopes_disabled(), pytest.raises(ValueError, match="channel_id"):
        ignoring.first(conversation_id=1, channel_id=2)


def test_deferred_columns_stay_deferred_and_load_when_read(tenant_a):
    conversation = _conversation_of(tenant_a, "+14085550106")
    slim = PreparedQuery(lambda conversation_id: Conversation.objects.select_related("contact")
                         .only("organization_id", "contact", "contact__timezone")
                         .filter(pk=conversation_id)[:1], "conversation_id")
    with tenant_a.scope():
        found = slim.first(conversation_id=conversation.pk)
        assert found.get_deferred_fields() >= {"status", "channel_id"}
        assert "phone" in found.contact.get_deferred_fields()
        assert found.contact.phone == "+14085550106"  # loads (and decrypts) when read
        assert found.status == conversation.status
