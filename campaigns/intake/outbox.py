"""Every message the intake bot sends goes through here (one place to adapt to messaging).

Sends use messaging's outbound path (consent, the WhatsApp window, audit, dispatch); the bot's
messages carry origin ``intake``. Choice questions on WhatsApp ride as interactive messages:
``payload["interactive"]`` is read by messaging's dispatch like ``payload["template"]``.
"""

from __future__ import annotations

import logging

from accounts.actor import Actor
from messaging.channel_config import backend_for
from messaging.models import Channel, Message
from messaging.providers.base import Capability
from messaging.selectors import window_open
from messaging.services.outbound import SendRefused, queue_system_message

logger = logging.getLogger(__name__)

MAX_BUTTONS = 3
MAX_LIST_ROWS = 10
BUTTON_TITLE = 20
ROW_TITLE = 24


def supports_interactive(channel: Channel) -> bool:
    """WhatsApp channels whose backend renders interactive messages (Meta Cloud, the simulator)."""
    return (
        channel.kind == Channel.Kind.WHATSAPP and Capability.INTERACTIVE in backend_for(channel).capabilities
    )


def interactive_for(options: list[tuple[str, str]], body: str, button_label: str) -> dict | None:
    """Reply buttons for up to 3 options, a list for up to 10, None beyond (numbered text then)."""
    if not options or len(options) > MAX_LIST_ROWS:
        return None
    if len(options) <= MAX_BUTTONS:
        return {
            "body": body,
            "buttons": [{"id": oid, "title": _short(title, BUTTON_TITLE)} for oid, title in options],
        }
    return {
        "body": body,
        "list_button": _short(button_label, BUTTON_TITLE),
        "sections": [
            {
                "title": _short(button_label, ROW_TITLE),
                "rows": [{"id": oid, "title": _short(title, ROW_TITLE)} for oid, title in options],
            }
        ],
    }


def _short(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def send_to_patient(
    *, session, body: str, interactive: dict | None = None, strict: bool = False
) -> int | None:
    """Queue one bot message to the session's patient: its id; None when messaging refuses (logged,
    ids only), or ``SendRefused`` raised when ``strict`` (staff starting a session want to know)."""
    contact = session.contact
    payload = {"interactive": interactive} if interactive else None
    whatsapp = session.channel.kind == Channel.Kind.WHATSAPP
    if whatsapp and session.conversation is not None and not window_open(session.conversation):
        # WhatsApp's 24-hour window closed (an expiry notice a day later): Meta would refuse it.
        if strict:
            raise SendRefused(
                "window_closed",
                "WhatsApp only allows free-form messages within 24 hours of the "
                "patient's last message: ask them to text the keyword instead.",
            )
        logger.info("intake session %s: message not sent (window_closed)", session.pk)
        return None
    try:
        return queue_system_message(
            channel=session.channel,
            to_phone=_address(session),
            body=body,
            origin=Message.Origin.INTAKE,
            conversation_id=session.conversation_id,  # the id is all it needs: no row to load
            contact=contact,
            payload=payload,
            actor=Actor.system("intake-bot", organization_id=session.organization_id),
        )
    except SendRefused as refused:
        if strict:
            raise
        logger.info("intake session %s: message not sent (%s)", session.pk, refused.reason_code)
        return None


def _address(session) -> str:
    if session.contact.phone:
        return session.contact.phone
    last = (
        Message.objects.filter(
            channel=session.channel, contact=session.contact, direction=Message.Direction.INBOUND
        )
        .exclude(remote_address_index="")
        .order_by("-pk")
        .first()
    )
    return (last.remote_address if last else "") or ""
