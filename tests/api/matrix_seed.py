"""One row of each kind the partner API serves, for an organisation: the cross-tenant matrix
seeds both organisations with it (A's rows are the targets, B's make bodies valid but for the
one id of A), and the schema fuzzer seeds the key's organisation so operations get past 404.

Every organisation gets its own recognisable values (names, phone, e-mail, keys), so an answer
that carries one of A's values is visibly a leak (``markers``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from django.utils import timezone

import audit
from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from campaigns.intake import services as intake_services
from campaigns.intake.models import IntakeSession, Submission
from campaigns.services.campaigns import create_campaign
from campaigns.services.templates import create_template
from contacts.custom_fields import define_custom_field
from contacts.models import ContactTag, ImportJob, Tag
from contacts.services import create_contact
from messaging.models import Channel, Conversation, Message, WhatsAppTemplate

_numbers = itertools.count(7000)  # our own numbers (+1408555NNNN), one per seeded organisation


@dataclass
class Seed:
    """The seeded rows by model label (``app_label.modelname``), and the values that name them."""

    rows: dict[str, object] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)

    def pk(self, label: str) -> int:
        return self.rows[label].pk

    def __getitem__(self, label: str):
        return self.rows[label]


def seed_organization(tenant, tag: str) -> Seed:
    """Seed ``tenant``'s organisation (inside its scope); ``tag`` makes its values its own
    (letters only: it goes into names, keys and keywords)."""
    n = next(_numbers)
    org, actor = tenant.org, actor_for(tenant.admin, tenant.org)
    seed = Seed()
    rows = seed.rows
    with tenant.scope():
        contact = create_contact(actor=actor, organization=org, first_name=f"Matrix{tag}",
                                 last_name=f"Patient{tag}", phone=f"+1408555{n:04d}",
                                 email=f"patient.{tag.lower()}{n}@example.test")
        rows["contacts.contact"] = contact
        rows["contacts.tag"] = Tag.objects.create(organization=org, name=f"matrix-{tag.lower()}")
        rows["contacts.contacttag"] = ContactTag.objects.create(organization=org, contact=contact,
                                                                tag=rows["contacts.tag"])
        rows["contacts.customfield"] = define_custom_field(actor=actor, organization=org,
                                                           label=f"Insurer{tag}", field_type="text")
        rows["contacts.importjob"] = ImportJob.objects.create(organization=org, file_format="csv",
                                                              original_name=f"list-{tag}.csv")
        channel = Channel.objects.create(organization=org, name=f"Desk {tag}", provider="simulator",
                                         address=f"+1408555{n + 5000:04d}", webhook_secret="s3cret",
                                         is_default=True)
        rows["messaging.channel"] = channel
        rows["messaging.whatsapptemplate"] = WhatsAppTemplate.objects.create(
            organization=org, channel=channel, name=f"reminder_{tag.lower()}")
        conversation = Conversation.objects.create(organization=org, channel=channel, contact=contact)
        rows["messaging.conversation"] = conversation
        rows["messaging.message"] = Message.objects.create(
            organization=org, conversation=conversation, channel=channel, contact=contact,
            direction="inbound", origin="patient", body=f"Hello from {tag}", status="received")
        template = create_template(actor=actor, organization=org, name=f"Reminder {tag}", language="en",
                                   body="Hi {{ first_name }}")
        rows["campaigns.messagetemplate"] = template
        rows["campaigns.campaign"] = create_campaign(actor=actor, organization=org, name=f"Campaign {tag}",
                                                     kind="care", channel=channel, template=template,
                                                     conditions=[])
        questionnaire = intake_services.create_questionnaire(
            actor=actor, name=f"Intake {tag}", start_keywords=f"INTAKE{tag.upper()}", intro="Welcome.",
            completion_message="Thank you!")
        intake_services.add_question(questionnaire=questionnaire, actor=actor, key="first_name",
                                     kind="text", prompt="First name?")
        questionnaire.refresh_from_db()
        rows["campaigns.questionnaire"] = questionnaire
        version = questionnaire.current_version
        session = IntakeSession.objects.create(
            organization=org, questionnaire=questionnaire, version=version, contact=contact, channel=channel,
            conversation=conversation, status=IntakeSession.Status.COMPLETED, last_activity_at=timezone.now(),
            answers={"first_name": f"Matrix{tag}"})
        rows["campaigns.intakesession"] = session
        rows["campaigns.submission"] = Submission.objects.create(
            organization=org, questionnaire=questionnaire, version=version, session=session, contact=contact,
            answers={"first_name": f"Matrix{tag}"}, submitted_at=timezone.now())
        rows["audit.auditevent"] = (
            AuditEvent.objects.filter(organization=org).order_by("-seq").first()
            or audit.record(AuditAction.ORGANIZATION_SETTINGS_CHANGED, organization=org))
    seed.markers = [org.name, contact.phone, contact.email, f"Patient{tag}", f"Hello from {tag}",
                    rows["contacts.customfield"].key, rows["contacts.tag"].name, channel.address]
    return seed
