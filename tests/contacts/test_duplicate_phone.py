"""Two contacts of one organisation never share a phone: refused with what to do instead."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from contacts import services
from contacts.models import Contact
from contacts.services import DUPLICATE_PHONE_MESSAGE, DuplicatePhone, create_contact, update_contact
from tests.factories import system_actor


def _create(tenant, **values):
    with tenant.scope():
        return create_contact(actor=system_actor(tenant.org), organization=tenant.org, **values)


def test_creating_a_second_contact_with_the_same_phone_is_refused(tenant_a):
    first = _create(tenant_a, first_name="Marie", phone="+14155550142")
    with pytest.raises(DuplicatePhone) as caught:
        _create(tenant_a, first_name="Other", phone="(415) 555-0142")  # same number, other spelling
    assert caught.value.existing_id == first.pk
    assert "open that contact" in caught.value.errors["phone"]
    with tenant_a.scope():
        assert Contact.objects.count() == 1


def test_editing_a_contact_onto_another_contacts_phone_is_refused_but_keeping_its_own_is_fine(tenant_a):
    first = _create(tenant_a, phone="+14155550142")
    second = _create(tenant_a, phone="+14155550143")
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        update_contact(actor=actor, contact=second, phone="+14155550143", first_name="Same number")
        with pytest.raises(DuplicatePhone) as caught:
            update_contact(actor=actor, contact=Contact.objects.get(pk=second.pk), phone="+14155550142")
        assert caught.value.existing_id == first.pk
        assert Contact.objects.get(pk=second.pk).phone == "+14155550143"


def test_the_same_phone_in_another_organisation_is_allowed(tenant_a, tenant_b):
    _create(tenant_a, phone="+14155550142")
    assert _create(tenant_b, phone="+14155550142").phone == "+14155550142"


def test_the_form_says_what_to_do_and_links_the_existing_contact(tenant_a):
    first = _create(tenant_a, phone="+14155550142")
    response = tenant_a.client_for("staff").post(reverse("contacts:create"), {
        "first_name": "Dup", "phone": "415-555-0142", "preferred_channel": "sms"})
    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [DUPLICATE_PHONE_MESSAGE]
    assert reverse("contacts:detail", args=[first.pk]).encode() in response.content
    assert b"Open the existing contact" in response.content


def test_a_race_past_the_pre_check_is_refused_by_the_constraint_with_the_same_message(tenant_a, monkeypatch):
    """Two writers (an import and a manual create) both pass the pre-check: the database's partial
    unique constraint `contact_unique_phone` refuses the second, mapped to the same message."""
    with connection.cursor() as cursor:  # the constraint (the imports branch adds it by migration)
        cursor.execute("CREATE UNIQUE INDEX IF NOT EXISTS contact_unique_phone ON contacts_contact "
                       "(organization_id, phone_index) WHERE phone_index <> ''")
    _create(tenant_a, phone="+14155550142")
    monkeypatch.setattr(services, "_refuse_duplicate_phone", lambda *args: None)  # lose the race
    with pytest.raises(DuplicatePhone) as caught:
        _create(tenant_a, phone="+14155550142")
    assert caught.value.errors["phone"] == DUPLICATE_PHONE_MESSAGE
    with tenant_a.scope():  # the transaction is usable again: the failed insert rolled back alone
        assert Contact.objects.count() == 1


def test_other_integrity_errors_are_not_reported_as_duplicate_phones():
    from django.db import IntegrityError

    assert not services.is_phone_conflict(IntegrityError("null value in column \"organization_id\""))
    assert services.is_phone_conflict(IntegrityError(
        "UNIQUE constraint failed: contacts_contact.organization_id, contacts_contact.phone_index"))
