"""Staff settle an interrupted send the provider could not confirm ("unknown — check").

``dispatch.reconcile`` parks such a message as ``unknown`` rather than sending it blind a second
time. Only a person who looked in the provider's own message log can say what happened, and
they answer one of three ways:

- **went out**: the provider's log has it → "sent" (with the provider's id, if they copy it, so
  later receipts bind to the message); nothing is sent again;
- **send again**: it is not in the provider's log → queued and delivered through the usual path
  (consent, 24-hour window and the channel's rate are checked again at send time; the same
  idempotency key travels, so a provider that did keep it answers with the original);
- **not sent**: it is missing but should not go out now (stale, or sent by other means) → "failed".

Each settlement is audited (who, which message, which answer: no content). A receipt that
settled the message first wins: settling a message no longer ``unknown`` is refused.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from messaging import partner_events
from messaging.models import Message
from messaging.services.queueing import hand_off

# Provider ids are short ASCII tokens (Twilio SM…/MM…, Telnyx UUIDs, Meta wamid.…).
_PROVIDER_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
NOT_SENT_TEXT = "Not sent: staff checked the provider's log and chose not to send it again."


class Settlement(TextChoices):
    WENT_OUT = "went_out", "It went out (found in the provider's log)"
    SEND_AGAIN = "send_again", "Send it again (not in the provider's log)"
    NOT_SENT = "not_sent", "Leave it unsent"


class SettleRefused(Exception):
    """Why a settlement was refused, in words for the person who asked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def settle_unknown_send(*, actor: Actor, message_id: int, settlement: str, provider_message_id: str = "",
                        conversation_id: int | None = None) -> Message:
    """Record what staff found for one ``unknown`` message (module docstring). Another
    organisation's (or conversation's) message is ``Message.DoesNotExist``, like a missing one."""
    if not actor.can(Perm.MESSAGES_SEND):
        raise PermissionError("Your role cannot settle sends.")
    try:
        settlement = Settlement(settlement)
    except ValueError:
        raise SettleRefused("settlement", "Choose what the provider's log shows.") from None
    provider_message_id = (provider_message_id or "").strip()
    if provider_message_id and (settlement is not Settlement.WENT_OUT
                                or not _PROVIDER_ID.fullmatch(provider_message_id)):
        raise SettleRefused("provider_message_id",
                            "A provider message id is letters, digits and . _ : - only (at most 128), and "
                            "only for a message that went out.")
    with transaction.atomic():
        mine = Message.objects.filter(pk=message_id, organization_id=actor.organization_id,
                                      direction=Message.Direction.OUTBOUND)
        if conversation_id is not None:
            mine = mine.filter(conversation_id=conversation_id)
        locked = mine.select_for_update(of=("self",)).get()
        if locked.status != Message.Status.UNKNOWN:
            raise SettleRefused("settled", "This message is no longer in doubt (a receipt or a colleague "
                                           "settled it): reload the conversation.")
        _apply(locked, settlement, provider_message_id)
        audit.record(AuditAction.UNKNOWN_SEND_SETTLED, actor=actor, organization=locked.organization_id,
                     target=locked, detail={"message_id": locked.pk, "settlement": settlement.value,
                                            "provider_id_given": bool(provider_message_id)})
        if settlement is Settlement.SEND_AGAIN:
            transaction.on_commit(lambda: hand_off(locked.organization_id, locked.channel_id, [locked.pk]))
        elif settlement is Settlement.WENT_OUT:
            partner_events.announce_status(locked)
    return locked


def _apply(message: Message, settlement: Settlement, provider_message_id: str) -> None:
    now = timezone.now()
    message.error_code, message.error_message = "", ""
    message.lease_expires_at = None
    fields = ["status", "error_code", "error_message", "lease_expires_at"]
    if settlement is Settlement.WENT_OUT:
        message.status = Message.Status.SENT
        message.sent_at = message.sent_at or message.dispatch_slot_at or now
        fields.append("sent_at")
        if provider_message_id and not message.provider_message_id:
            message.provider_message_id = provider_message_id
            fields.append("provider_message_id")
    elif settlement is Settlement.SEND_AGAIN:
        # A fresh send takes a fresh slot; the attempts budget starts again for it.
        message.status = Message.Status.QUEUED
        message.dispatch_slot_at = None
        message.attempts = 0
        fields += ["dispatch_slot_at", "attempts"]
    else:
        message.status = Message.Status.FAILED
        message.failed_at = now
        message.error_code, message.error_message = "not_sent_staff", NOT_SENT_TEXT
        fields.append("failed_at")
    message.save(update_fields=fields)
