import uuid

from accounts.actor import Actor
from tests.factories import system_actor
from tests.tenancy import row_maker


def _actor(org):
    return Actor.system("tenancy-test", organization_id=org.pk)


@row_maker("campaigns.campaignsettings")
def campaign_settings(org):
    from campaigns.models import CampaignSettings

    return CampaignSettings.objects.create(organization=org)


@row_maker("campaigns.messagetemplate")
def message_template(org):
    from campaigns.services.templates import create_template

    return create_template(actor=_actor(org), organization=org, name=f"Reminder {uuid.uuid4().hex[:6]}",
                           language="en", body="Hi {{ first_name }}")


@row_maker("campaigns.templatevariant")
def template_variant(org):
    return message_template(org).variants.get()


@row_maker("campaigns.campaign")
def campaign(org):
    from campaigns.services.campaigns import create_campaign
    from tests.messaging.tenancy_rows import channel

    return create_campaign(actor=_actor(org), organization=org, name="Tenancy", kind="care",
                           channel=channel(org), template=message_template(org),
                           conditions=[])


@row_maker("campaigns.campaignaudiencenumber")
def audience_number(org):
    from campaigns.models import CampaignAudienceNumber

    return CampaignAudienceNumber.objects.create(organization=org, campaign=campaign(org),
                                                 phone_index="ab" * 32)


@row_maker("campaigns.campaignrecipient")
def recipient(org):
    from campaigns.models import CampaignRecipient
    from contacts.services import create_contact

    contact = create_contact(actor=system_actor(org), organization=org, first_name="Tenancy",
                             phone="+14155550166")
    return CampaignRecipient.objects.create(organization=org, campaign=campaign(org), contact=contact)
