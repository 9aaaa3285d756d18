"""save_fields stores what save(update_fields=…) stores and create_row what create() stores,
signals included, each in one statement."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from accounts import row_writes
from accounts.row_writes import create_row, save_fields
from campaigns.models import CampaignRecipient
from contacts.models import Contact
from messaging.models import Conversation, Message
from tests.factories import ContactFactory
from tests.messaging.backend_helpers import make_channel

pytestmark = pytest.mark.django_db


def _raw(contact_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT first_name, sms_opted_in, updated_at FROM contacts_contact WHERE id = %s",
                       [contact_id])
        first_name, opted_in, updated_at = cursor.fetchone()
    return {"first_name": first_name, "sms_opted_in": opted_in, "updated_at": updated_at}


def test_it_stores_what_save_stores_encrypted_and_with_auto_now(tenant_a):
    with tenant_a.scope():
        by_save = ContactFactory(organization=tenant_a.org, phone="+14085550181")
        by_fields = ContactFactory(organization=tenant_a.org, phone="+14085550182")
        later = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
        with time_machine.travel(later, tick=False):
            for contact in (by_save, by_fields):
                contact.first_name, contact.sms_opted_in = "Ĺudmila", True
            by_save.save(update_fields=["first_name", "sms_opted_in", "updated_at"])
            with CaptureQueriesContext(connection) as queries:
                save_fields(by_fields, ["first_name", "sms_opted_in", "updated_at"])
        assert len(queries.captured_queries) == 1
        stored, expected = _raw(by_fields.pk), _raw(by_save.pk)
        assert stored["sms_opted_in"] is expected["sms_opted_in"] is True
        assert stored["updated_at"] == expected["updated_at"] == later  # auto_now, as save()
        assert "Ĺudmila" not in stored["first_name"]  # sealed by the field's pre_save
        assert Contact.objects.get(pk=by_fields.pk).first_name == "Ĺudmila"


def test_every_column_when_no_names_are_given(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550183")
        contact.last_name, contact.whatsapp_opted_in = "Ørsted", True
        save_fields(contact)
        fresh = Contact.objects.get(pk=contact.pk)
    assert (fresh.last_name, fresh.whatsapp_opted_in) == ("Ørsted", True)


def test_no_names_store_nothing_as_save_does(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550189")
        contact.last_name = "Changed"
        with CaptureQueriesContext(connection) as queries:
            save_fields(contact, [])
        assert queries.captured_queries == []
        assert Contact.objects.get(pk=contact.pk).last_name != "Changed"


def test_it_sends_the_signals_save_sends(tenant_a):
    heard = []

    def pre(sender, instance, update_fields, **kwargs):
        heard.append(("pre", sender, instance.pk, update_fields))

    def post(sender, instance, created, update_fields, **kwargs):
        heard.append(("post", sender, instance.pk, created, update_fields))

    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550184")
        pre_save.connect(pre, sender=Contact)
        post_save.connect(post, sender=Contact)
        try:
            save_fields(contact, ["sms_opted_in"])
        finally:
            pre_save.disconnect(pre, sender=Contact)
            post_save.disconnect(post, sender=Contact)
    names = frozenset({"sms_opted_in"})
    assert heard == [("pre", Contact, contact.pk, names), ("post", Contact, contact.pk, False, names)]


def test_a_row_that_is_gone_is_an_error_not_an_insert(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550185")
        Contact.objects.filter(pk=contact.pk).delete()
        # As save(): the error marks its atomic block for rollback, so the test gives it one.
        with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
            save_fields(contact, ["sms_opted_in"])
        assert not Contact.objects.filter(pk=contact.pk).exists()


def test_expressions_and_other_tables_columns_are_refused(tenant_a):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550186")
        contact.sms_opted_in = F("whatsapp_opted_in")
        with pytest.raises(TypeError, match="not expressions"):
            save_fields(contact, ["sms_opted_in"])
        with pytest.raises(ValueError, match="not a column"):
            save_fields(contact, ["id"])


def test_the_statement_is_built_once_per_model_and_fields(tenant_a, monkeypatch):
    with tenant_a.scope():
        contact = ContactFactory(organization=tenant_a.org, phone="+14085550187")
        save_fields(contact, ["whatsapp_opted_in"])
        built = row_writes._statement
        monkeypatch.setattr(row_writes, "_statement", lambda key: pytest.fail(f"built again: {key}"))
        contact.whatsapp_opted_in = True
        save_fields(contact, ["whatsapp_opted_in"])
        monkeypatch.setattr(row_writes, "_statement", built)
        assert Contact.objects.get(pk=contact.pk).whatsapp_opted_in is True


def _message_values(tenant) -> dict:
    channel = make_channel(tenant.org)
    contact = ContactFactory(organization=tenant.org, phone="+14085550188")
    conversation = Conversation.objects.create(organization=tenant.org, channel=channel, contact=contact)
    return dict(organization=tenant.org, conversation=conversation, channel=channel, contact=contact,
                direction=Message.Direction.INBOUND, origin=Message.Origin.PATIENT,
                status=Message.Status.RECEIVED, remote_address="+14085550188", remote_address_index="ix",
                body="Café at 3?", payload={"keyword": None}, provider_message_id="")


def _columns(message_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM messaging_message WHERE id = %s", [message_id])
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_create_row_stores_what_create_stores(tenant_a):
    at = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    with tenant_a.scope(), time_machine.travel(at, tick=False):
        values = _message_values(tenant_a)
        by_create = Message.objects.create(**dict(values, provider_message_id="SM1"))
        with CaptureQueriesContext(connection) as queries:
            by_row = create_row(Message, **dict(values, provider_message_id="SM2"))
        assert len(queries.captured_queries) == 1
        assert by_row.pk and not by_row._state.adding and by_row._state.db == "default"
        mine, theirs = _columns(by_row.pk), _columns(by_create.pk)
        sealed = {"body", "payload", "remote_address", "error_message"}
        plain = set(mine) - sealed - {"id", "provider_message_id"}
        assert {k: mine[k] for k in plain} == {k: theirs[k] for k in plain}
        assert mine["created_at"] == at  # auto_now_add
        assert "Café" not in mine["body"]  # sealed by the field's pre_save
        fresh = Message.objects.get(pk=by_row.pk)
        assert (fresh.body, fresh.payload, fresh.remote_address) == ("Café at 3?", {"keyword": None},
                                                                      "+14085550188")


def test_create_row_sends_the_signals_create_sends(tenant_a):
    heard = []

    def post(sender, instance, created, update_fields, **kwargs):
        heard.append((sender, instance.pk, created, update_fields))

    with tenant_a.scope():
        values = _message_values(tenant_a)
        post_save.connect(post, sender=Message)
        try:
            message = create_row(Message, **values)
        finally:
            post_save.disconnect(post, sender=Message)
    assert heard == [(Message, message.pk, True, None)]


def test_create_row_refuses_what_needs_djangos_compiler(tenant_a):
    with tenant_a.scope():
        values = _message_values(tenant_a)
        with pytest.raises(ValueError, match="gives the primary key"):
            create_row(Message, id=10**9, **values)
        with pytest.raises(TypeError, match="not expressions"):
            create_row(Message, **dict(values, segments=F("segments")))
        with pytest.raises(ValueError, match="database defaults"):
            create_row(CampaignRecipient, organization=tenant_a.org)
        assert not Message.objects.filter(pk=10**9).exists()
