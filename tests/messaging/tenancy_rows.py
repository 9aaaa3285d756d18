import itertools

from messaging.models import Channel
from tests.factories import system_actor
from tests.tenancy import row_maker

_phones = itertools.count(3000)  # one organisation's contacts never share a phone


@row_maker("messaging.channel")
def channel(org):
    return Channel.objects.create(organization=org, name="Front desk", provider="simulator",
                                  address="+15005550006", webhook_secret="s3cret")


_phones = itertools.count(5000)  # one contact per phone per organisation (contact_unique_phone)


def _contact(org):
    from contacts.services import create_contact

    return create_contact(actor=system_actor(org), organization=org, first_name="Tenancy",
                          phone=f"+1415555{next(_phones):04d}")


@row_maker("messaging.messagingsettings")
def messaging_settings(org):
    from messaging.models import MessagingSettings

    return MessagingSettings.objects.create(organization=org)


@row_maker("messaging.conversation")
def conversation(org):
    from messaging.models import Conversation

    return Conversation.objects.create(organization=org, channel=channel(org), contact=_contact(org))


@row_maker("messaging.message")
def message(org):
    from messaging.models import Message

    conv = conversation(org)
    return Message.objects.create(organization=org, conversation=conv, channel=conv.channel,
                                  contact=conv.contact,
                                  direction="inbound", origin="patient", body="hello", status="received")


@row_maker("messaging.deliveryreceipt")
def delivery_receipt(org):
    from messaging.models import DeliveryReceipt

    return DeliveryReceipt.objects.create(organization=org, channel=channel(org), dedupe_key="SM1:delivered")


@row_maker("messaging.cannedresponse")
def canned_response(org):
    from messaging.models import CannedResponse

    return CannedResponse.objects.create(organization=org, title="Hours", body="We open at 8.")


@row_maker("messaging.whatsapptemplate")
def whatsapp_template(org):
    from messaging.models import WhatsAppTemplate

    return WhatsAppTemplate.objects.create(organization=org, channel=channel(org),
                                           name="appointment_reminder")
