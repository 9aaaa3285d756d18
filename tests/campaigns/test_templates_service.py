"""Template writes: validated on save (with the position), audited, protected while sending."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from campaigns.errors import CampaignRefused
from campaigns.services import templates as template_services
from contacts.custom_fields import define_custom_field
from tests.factories import system_actor

pytestmark = pytest.mark.django_db


def test_a_custom_placeholder_needs_a_defined_field(make_template, admin_actor, tenant_a):
    with pytest.raises(CampaignRefused) as info:
        make_template("Your insurer: {{ custom.insurer }}")
    assert info.value.code == "template_syntax"
    assert info.value.numbers == {"position": 17, "line": 1, "column": 18}  # at "custom.insurer"
    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                        label="Insurer", field_type="text", key="insurer")
    template = make_template("Your insurer: {{ custom.insurer }}")
    assert template.variants.get().body == "Your insurer: {{ custom.insurer }}"


def test_names_are_unique_and_required(make_template):
    make_template(name="Reminder")
    with pytest.raises(CampaignRefused, match="exists"):
        make_template(name="Reminder")
    with pytest.raises(CampaignRefused, match="name"):
        make_template(name="   ")


def test_variants_are_saved_per_normalised_language_and_replace_each_other(make_template, admin_actor):
    template = make_template(language="en")
    template_services.save_variant(actor=admin_actor, template=template, language="ES_mx", body="Hola")
    template_services.save_variant(
        actor=admin_actor, template=template, language="es-MX", body="Hola {{ first_name }}"
    )
    assert dict(template.variants.values_list("language", "body")) == {
        "en": 'Hi {{ first_name | "there" }}, your flu shot is due at {{ organisation }}.',
        "es-mx": "Hola {{ first_name }}",
    }
    events = AuditEvent.objects.filter(action=441, target_id=str(template.pk))
    assert [e.detail["created"] for e in events.order_by("seq")] == [True, True, False]  # en, es-mx, es-mx
    assert all("Hola" not in str(e.detail) for e in events)  # audit names the language, never the text


def test_the_last_variant_cannot_be_removed_and_a_used_template_cannot_be_deleted(make_campaign, admin_actor):
    campaign = make_campaign()
    template = campaign.template
    with pytest.raises(CampaignRefused, match="at least one language"):
        template_services.delete_variant(actor=admin_actor, variant=template.variants.get())
    with pytest.raises(CampaignRefused, match="Campaigns use this template"):
        template_services.delete_template(actor=admin_actor, template=template)


def test_a_body_over_the_sms_limit_is_refused(make_template):
    with pytest.raises(CampaignRefused, match="limit is 1600"):
        make_template("x" * 1601)


def test_a_whatsapp_variant_maps_every_parameter(make_template, admin_actor, tenant_a):
    from messaging.models import Channel, WhatsAppTemplate

    channel = Channel.objects.create(
        organization=tenant_a.org,
        name="WA",
        provider="whatsapp_cloud",
        kind="whatsapp",
        address="1",
        webhook_secret="x",
    )
    approved = WhatsAppTemplate.objects.create(
        organization=tenant_a.org, channel=channel, name="r", preview="{{1}} {{2}}", parameter_count=2
    )
    template = make_template()
    with pytest.raises(CampaignRefused, match="has 2 parameter"):
        template_services.save_variant(
            actor=admin_actor,
            template=template,
            language="en",
            whatsapp_template=approved,
            whatsapp_parameters=["first_name"],
        )
    with pytest.raises(CampaignRefused, match=r"Parameter \{\{2\}\}"):
        template_services.save_variant(
            actor=admin_actor,
            template=template,
            language="en",
            whatsapp_template=approved,
            whatsapp_parameters=["first_name", "dob"],
        )
    approved.is_active = False
    approved.save()
    with pytest.raises(CampaignRefused, match="switched off"):
        template_services.save_variant(
            actor=admin_actor,
            template=template,
            language="en",
            whatsapp_template=approved,
            whatsapp_parameters=["first_name", "last_name"],
        )
