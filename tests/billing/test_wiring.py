"""billing wired into the services that act: inbound storage, organisation creation,
invitations, channel creation and manual contact creation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from accounts.actor import actor_for
from accounts.invitations import send_invitation
from accounts.services import create_organization
from billing import QuotaExceeded
from billing.models import Subscription, UsageCounter
from contacts.models import Contact
from contacts.services import create_contact
from messaging.models import Channel, Message
from messaging.services.channels import create_channel
from tests.billing.conftest import put_on_plan
from tests.factories import UserFactory, system_actor
from tests.fakes.payloads import twilio_inbound_sms
from tests.messaging.backend_helpers import PATIENT, make_channel, post_twilio

pytestmark = pytest.mark.django_db


def inbound_counts(org) -> list[tuple[str, int]]:
    with scopes_disabled():
        return list(UsageCounter.objects.filter(organization=org, direction="inbound")
                    .values_list("channel_kind", "messages"))


def test_an_inbound_webhook_is_metered_once_even_when_the_provider_retries(tenant_a):
    with tenant_a.scope():
        channel = make_channel(tenant_a.org, "twilio")
    pairs = twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="Refill please",
                               message_sid="SM" + "1" * 32)
    assert post_twilio(channel, pairs).status_code == 200
    assert post_twilio(channel, pairs).status_code == 200  # Twilio's retry of the same message
    other = twilio_inbound_sms(from_=PATIENT, to="+14155550100", body="And one more",
                               message_sid="SM" + "2" * 32)
    assert post_twilio(channel, other).status_code == 200
    with scopes_disabled():
        assert Message.objects.filter(direction="inbound").count() == 2
    assert inbound_counts(tenant_a.org) == [("sms", 2)]


def test_a_new_organisation_starts_on_a_trial_of_the_configured_plan(db, settings):
    settings.BILLING_TRIAL_PLAN = "starter"
    org = create_organization(name="Harbour Dental", owner=UserFactory())
    with scopes_disabled():
        subscription = Subscription.objects.get(organization=org)
    assert (subscription.plan.code, subscription.status) == ("starter", "trial")


def test_an_invitation_beyond_the_user_cap_is_refused_with_the_numbers(tenant_a):
    put_on_plan(tenant_a.org, "free")  # 2 users; the tenant has 4 members
    with tenant_a.scope(), pytest.raises(QuotaExceeded) as refused:
        send_invitation(organization=tenant_a.org, actor=actor_for(tenant_a.owner, tenant_a.org),
                        email="new@example.test", role="staff")
    assert refused.value.code == "user_cap"
    assert isinstance(refused.value, ValidationError)  # accounts' form shows it beside the field
    put_on_plan(tenant_a.org, "growth")
    with tenant_a.scope():
        send_invitation(organization=tenant_a.org, actor=actor_for(tenant_a.owner, tenant_a.org),
                        email="new@example.test", role="staff")


def test_the_members_page_shows_the_user_cap_refusal_beside_the_e_mail(tenant_a):
    put_on_plan(tenant_a.org, "free")
    response = tenant_a.client_for("owner").post(reverse("invite_member"),
                                                 {"email": "new@example.test", "role": "staff"})
    assert response.status_code == 400
    assert "Your Free plan allows 2 members" in response.content.decode()


def test_a_channel_beyond_the_cap_or_a_whatsapp_channel_without_whatsapp_is_refused(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")  # 1 channel, no WhatsApp
    values = {"name": "Front desk", "address": "+15005550006"}
    with scope(organization=org):
        create_channel(organization=org, actor=actor_for(tenant_a.admin, org), provider="simulator",
                       values=values)
        with pytest.raises(QuotaExceeded) as refused:
            create_channel(organization=org, actor=actor_for(tenant_a.admin, org), provider="simulator",
                           values={"name": "Second", "address": "+15005550007"})
        assert refused.value.code == "channel_cap"
        put_on_plan(org, "starter")
        with pytest.raises(QuotaExceeded) as refused:
            create_channel(organization=org, actor=actor_for(tenant_a.admin, org), provider="whatsapp_cloud",
                           values={"name": "WA", "address": "123456"},
                           credentials={"access_token": "t", "app_secret": "s", "verify_token": "v"})
        assert refused.value.code == "feature_whatsapp"
        assert Channel.objects.count() == 1


def test_a_refused_channel_in_the_web_ui_answers_402_with_what_to_do(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    with scope(organization=org):
        make_channel(org)
    response = tenant_a.client_for("admin").post(
        reverse("messaging:channel_create", args=["simulator"]),
        {"name": "Second", "kind": "sms", "address": "+15005550007", "rate_limit_per_second": 1,
         "is_active": "on"})
    assert response.status_code == 402
    page = response.content.decode()
    assert 'data-code="channel_cap"' in page and "deactivate a channel" in page


def test_a_manual_contact_beyond_the_cap_is_refused_but_a_patient_texting_in_is_always_stored(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    with scope(organization=org):
        Contact.objects.bulk_create([Contact(organization=org, origin="manual") for _ in range(250)])
        with pytest.raises(QuotaExceeded) as refused:
            create_contact(actor=system_actor(org), organization=org, first_name="Ana", phone="+14155550101")
        assert (refused.value.code, refused.value.used, refused.value.included) == ("contact_cap", 250, 250)
        create_contact(actor=system_actor(org), organization=org, origin="inbound", phone="+14155550102")
        assert Contact.objects.count() == 251
