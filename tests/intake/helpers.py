"""Shared set-up for the intake tests: questionnaires built through the services, a patient
who texts through signed webhooks, and what the bot answered."""

from __future__ import annotations

import json
import uuid

from django.test import TestCase
from django_scopes import scope

from accounts.actor import actor_for
from campaigns.intake import services
from campaigns.intake.models import IntakeSession, Submission
from messaging.models import Message
from tests.fakes.payloads import meta_inbound_text, telnyx_inbound, twilio_inbound_sms
from tests.messaging.backend_helpers import (
    PATIENT,
    make_channel,
    post_meta,
    post_simulator,
    post_telnyx,
    post_twilio,
)

__all__ = ["PATIENT", "Patient", "build", "member", "on_commit"]


def member(tenant, role: str = "admin"):
    return actor_for(tenant.member(role), tenant.org)


def build(tenant, questions: list[dict], **settings) -> object:
    """A questionnaire of ``tenant`` with ``questions`` (dicts of Question fields), published."""
    actor = member(tenant)
    values = {
        "name": "New patient intake",
        "start_keywords": "INTAKE",
        "intro": "Welcome to Org A.",
        "completion_message": "Thank you!",
    }
    values.update(settings)
    with scope(organization=tenant.org):
        questionnaire = services.create_questionnaire(actor=actor, **values)
        for question in questions:
            services.add_question(questionnaire=questionnaire, actor=actor, **question)
        questionnaire.refresh_from_db()
        return questionnaire


class Patient:
    """A phone texting one channel of ``tenant`` through its provider's signed webhook."""

    def __init__(self, tenant, provider: str = "simulator", phone: str = PATIENT, **channel):
        self.tenant, self.phone, self.provider = tenant, phone, provider
        with scope(organization=tenant.org):
            self.channel = make_channel(tenant.org, provider, **channel)

    def send(self, body: str = "", **extra) -> None:
        """Post one message and run what its commit triggers (the bot, dispatch), as production would."""
        with TestCase.captureOnCommitCallbacks(execute=True):
            self._post(body, **extra)

    def _post(self, body: str, **extra) -> None:
        if self.provider == "simulator":
            payload = {
                "id": f"simin_{uuid.uuid4().hex}",
                "from": self.phone,
                "to": self.channel.address,
                "body": body,
            }
            response = post_simulator(self.channel, json.dumps(payload).encode())
        elif self.provider == "whatsapp_cloud":
            response = post_meta(
                self.channel,
                extra.get("meta_body") or meta_inbound_text(from_wa_id=self.phone.lstrip("+"), text=body),
            )
        elif self.provider == "telnyx":
            response = post_telnyx(
                self.channel,
                extra.get("telnyx_body")
                or telnyx_inbound(from_=self.phone, to=self.channel.address, text=body),
            )
        else:
            response = post_twilio(
                self.channel,
                extra.get("pairs") or twilio_inbound_sms(from_=self.phone, to="+14155550100", body=body),
            )
        assert response.status_code == 200, response.content

    def outbox(self) -> list[Message]:
        with scope(organization=self.tenant.org):
            return list(Message.objects.filter(channel=self.channel, direction="outbound").order_by("pk"))

    def last(self) -> str:
        """The bot's latest message (messaging's own keyword replies are left out)."""
        messages = [m for m in self.outbox() if m.origin == "intake"]
        return messages[-1].body if messages else ""

    def session(self) -> IntakeSession | None:
        with scope(organization=self.tenant.org):
            return IntakeSession.objects.filter(channel=self.channel).select_related("version").first()

    def submission(self) -> Submission | None:
        with scope(organization=self.tenant.org):
            return Submission.objects.filter(session__channel=self.channel).first()


def on_commit():
    """Run the on_commit callbacks of the block (bot, dispatch) when it ends, as production would."""
    return TestCase.captureOnCommitCallbacks(execute=True)
