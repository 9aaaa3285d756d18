"""One set of rules (accounts.validators, contacts.normaliser) for the form, the services and the importer."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse

from accounts import validators
from accounts.validators import InvalidValue
from contacts.forms import ContactForm
from contacts.models import Contact
from contacts.normaliser import ContactNormaliser, InvalidContact
from contacts.services import create_contact, update_contact
from tests.factories import system_actor

# Possible (right length) but not valid: +1 555 is not an assigned area code.
POSSIBLE_NOT_VALID = "+1 555 555 0100"


def test_a_number_that_is_only_possible_is_refused_by_the_validator_the_form_and_the_service(tenant_a):
    with pytest.raises(InvalidValue, match="not a valid phone number"):
        validators.validate_phone(POSSIBLE_NOT_VALID, "US")
    form = ContactForm({"phone": POSSIBLE_NOT_VALID, "preferred_channel": "sms"}, region="US")
    assert not form.is_valid()
    assert "not a valid phone number" in form.errors["phone"][0]
    with tenant_a.scope(), pytest.raises(InvalidContact) as caught:
        create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone=POSSIBLE_NOT_VALID)
    assert set(caught.value.errors) == {"phone"}


def test_national_numbers_are_read_with_the_organisations_region():
    assert validators.validate_phone("020 7183 8750", "GB") == "+442071838750"
    assert validators.validate_phone("(415) 555-0199", "US") == "+14155550199"
    with pytest.raises(InvalidValue):
        validators.validate_phone("020 7183 8750", "US")


def test_a_date_of_birth_in_the_future_is_refused_with_a_clear_message(tenant_a):
    with tenant_a.scope(), pytest.raises(InvalidContact) as caught:
        create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone="+14155550142",
                       date_of_birth="2999-01-01")
    assert caught.value.errors == {"date_of_birth": "The date of birth is in the future — check the year."}
    with tenant_a.scope():
        assert Contact.objects.count() == 0


@time_machine.travel(datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC), tick=False)
def test_date_of_birth_bounds_are_today_and_1900():
    assert validators.validate_date_of_birth("2026-06-01") == datetime.date(2026, 6, 1)
    assert validators.validate_date_of_birth(datetime.date(1900, 1, 1)) == datetime.date(1900, 1, 1)
    with pytest.raises(InvalidValue, match="future"):
        validators.validate_date_of_birth("2026-06-02")
    with pytest.raises(InvalidValue, match="before 1900"):
        validators.validate_date_of_birth("1899-12-31")
    with pytest.raises(InvalidValue, match="YYYY-MM-DD"):
        validators.validate_date_of_birth("yesterday")


def test_the_form_refuses_a_future_date_of_birth_on_its_field(tenant_a):
    response = tenant_a.client_for("staff").post(reverse("contacts:create"), {
        "first_name": "Ada", "phone": "415 555 0199", "preferred_channel": "sms",
        "date_of_birth": "2999-01-01"})
    assert response.status_code == 200
    assert "in the future" in response.context["form"].errors["date_of_birth"][0]
    with tenant_a.scope():
        assert Contact.objects.count() == 0


@pytest.mark.parametrize(("raw", "stored"), [(" Ada@Example.ORG ", "ada@example.org"),
                                             ("=sum@example.org", "=sum@example.org")])
def test_email_addresses_are_stored_lower_cased(raw, stored):
    assert validators.validate_email(raw) == stored


@pytest.mark.parametrize("raw", ["@sum@example.org", "no-at-sign", "a@b", "x" * 250 + "@example.org"])
def test_what_is_not_an_email_address_is_refused(raw):
    with pytest.raises(InvalidValue) as caught:
        validators.validate_email(raw)
    assert raw not in str(caught.value)  # messages never quote the value (PHI)


def test_language_and_timezone_are_checked_and_tidied():
    assert validators.validate_language("FR_ca") == "fr-CA"
    assert validators.validate_language("zh-hant-tw") == "zh-Hant-TW"
    with pytest.raises(InvalidValue):
        validators.validate_language("Spanish (Mexico)")
    assert validators.validate_timezone("America/New_York") == "America/New_York"
    with pytest.raises(InvalidValue, match="time zone"):
        validators.validate_timezone("Mars/Olympus")


def test_lengths_are_checked_by_the_service_not_only_the_form(tenant_a):
    with tenant_a.scope(), pytest.raises(InvalidContact) as caught:
        create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, phone="+14155550142",
                       first_name="A" * 101, last_name="B" * 101)
    assert set(caught.value.errors) == {"first_name", "last_name"}
    assert "longer than 100" in caught.value.errors["first_name"]


def test_the_normaliser_cleans_every_field_and_collects_every_error():
    normalise = ContactNormaliser(region="US")
    assert normalise({"first_name": " Ada ", "phone": "(415) 555-0199", "email": "ADA@EXAMPLE.ORG",
                      "date_of_birth": "03/04/1980", "language": "ES", "timezone": "",
                      "preferred_channel": "WhatsApp", "unknown": "ignored"}) == {
        "first_name": "Ada", "phone": "+14155550199", "email": "ada@example.org",
        "date_of_birth": datetime.date(1980, 3, 4), "language": "es", "timezone": "",
        "preferred_channel": "whatsapp"}
    assert ContactNormaliser(region="GB").field("date_of_birth")("03/04/1980") == datetime.date(1980, 4, 3)
    with pytest.raises(InvalidContact) as caught:
        normalise({"phone": "12", "email": "nope", "preferred_channel": "fax"})
    assert set(caught.value.errors) == {"phone", "email", "preferred_channel"}


def test_update_refuses_bad_values_and_keeps_the_stored_ones(tenant_a):
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        contact = create_contact(actor=actor, organization=tenant_a.org, phone="+14155550142",
                                 email="a@b.org")
        with pytest.raises(InvalidContact):
            update_contact(actor=actor, contact=contact, email="not an address")
        assert Contact.objects.get(pk=contact.pk).email == "a@b.org"


@pytest.mark.parametrize("address", ["zoë.müller12@example.org", "josé@exämple.org",
                                     "aïcha.okafor@example.org"])
def test_internationalised_addresses_are_accepted(address):
    """Patients' names carry accents, and so do their addresses (RFC 6531)."""
    from accounts.validators import validate_email

    assert validate_email(address.upper()) == address.lower()


@pytest.mark.parametrize("address", ["zoë müller@example.org", "zoë@", "x@@example.org", ".zoë@example.org"])
def test_malformed_internationalised_addresses_are_refused(address):
    from accounts.validators import InvalidValue, validate_email

    with pytest.raises(InvalidValue):
        validate_email(address)
