"""The consent API the messaging keywords (STOP/START) are written against."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from contacts.models import Contact, Origin
from contacts.selectors import consent_state, find_by_phone, is_opted_out
from contacts.services import create_contact, set_consent
from tests.factories import system_actor


def consent_events(contact):
    with scopes_disabled():  # test inspection of the audit log
        return list(AuditEvent.objects.filter(action=AuditAction.CONSENT_CHANGED, target_id=str(contact.pk))
                    .order_by("seq").values_list("detail", flat=True))


def test_a_new_contact_has_unknown_consent_and_is_not_opted_out(tenant_a):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 phone="(415) 555-0142")
        assert consent_state(contact, "sms").opted_in is None
        assert is_opted_out(contact, "sms") is False
        assert is_opted_out(contact, "whatsapp") is False


def test_stop_opts_out_on_that_channel_only_and_records_source_and_time(tenant_a):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 phone="+14155550142")
        set_consent(actor=system_actor(contact), contact=contact, channel="sms", opted_in=False,
                    source="keyword:STOP")
        reloaded = Contact.objects.get(pk=contact.pk)
        state = consent_state(reloaded, "sms")
        assert (state.opted_in, state.source) == (False, "keyword:STOP")
        assert state.changed_at is not None
        assert is_opted_out(reloaded, "sms") is True
        assert is_opted_out(reloaded, "whatsapp") is False
    assert consent_events(contact) == [{"channel": "sms", "opted_in": False, "source": "keyword:STOP"}]


def test_set_consent_is_idempotent(tenant_a):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 phone="+14155550142")
        set_consent(actor=system_actor(contact), contact=contact, channel="whatsapp", opted_in=False,
                    source="keyword:STOP")
        set_consent(actor=system_actor(contact), contact=contact, channel="whatsapp", opted_in=False,
                    source="keyword:STOP")
        set_consent(actor=system_actor(contact), contact=Contact.objects.get(pk=contact.pk),
                    channel="whatsapp", opted_in=False,
                    source="keyword:STOP")
        set_consent(actor=system_actor(contact), contact=contact, channel="whatsapp", opted_in=True,
                    source="keyword:START")
        assert is_opted_out(Contact.objects.get(pk=contact.pk), "whatsapp") is False
    assert [e["opted_in"] for e in consent_events(contact)] == [False, True]


def test_set_consent_refuses_unknown_channels(tenant_a):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 phone="+14155550142")
        with pytest.raises(ValueError, match="sms"):
            set_consent(actor=system_actor(contact), contact=contact, channel="email", opted_in=False,
                        source="staff")


def test_inbound_unknown_sender_is_created_with_its_origin_and_found_by_phone(tenant_a):
    with tenant_a.scope():
        contact = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 origin="inbound", phone="+447911123456")
        assert contact.origin == Origin.INBOUND
        assert find_by_phone(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                             raw_phone="+44 7911 123456").pk == contact.pk
        # Derived from the number when unknown: UK mobiles map to zones that share London's clock.
        assert contact.timezone in {"Europe/London", "Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey"}


def test_time_zone_is_derived_from_the_phone_only_when_unknown(tenant_a):
    with tenant_a.scope():
        derived = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                 phone="+14155550142")
        stated = create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                                phone="+12125550142", timezone="Europe/Paris")
    assert derived.timezone == "America/Los_Angeles"
    assert stated.timezone == "Europe/Paris"
