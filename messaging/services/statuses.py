"""Delivery receipts: move an outbound message's status forward, never back.

Providers repeat and reorder status webhooks; each is applied at most once (a
DeliveryReceipt per dedupe key) and only when ``can_transition`` allows it.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.actor import Actor
from contacts.services import set_consent
from messaging import partner_events
from messaging.models import Channel, DeliveryReceipt, Message
from messaging.providers import MessageStatus, SendOutcome, StatusUpdate, can_transition

logger = logging.getLogger(__name__)

# The unique index on (channel, provider id) is partial (ids not ''). A statement prepared on its
# connection (DB_PREPARED_STATEMENTS) may run a generic plan, which can only use that index when
# the query states the index's condition as a literal: a bound '' proves nothing for every run.
_HAS_PROVIDER_ID = RawSQL("""NOT ("messaging_message"."provider_message_id" = '')""", (),
                          output_field=BooleanField())

_TIMESTAMP_OF = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
    MessageStatus.UNDELIVERED: "failed_at",
}
_OUTBOUND_STATUSES = {s.value for s in MessageStatus}


def by_provider_id(channel: Channel, provider_message_id: str):
    """The outbound message a receipt names, locked for its update (with its patient)."""
    return (Message.objects.select_for_update(of=("self",))
            .filter(_HAS_PROVIDER_ID, channel=channel, provider_message_id=provider_message_id,
                    direction=Message.Direction.OUTBOUND)
            .select_related("contact"))


def apply_status_update(channel: Channel, update: StatusUpdate) -> bool:
    """Apply one receipt; True when it changed the message.

    A receipt for a message we don't know (not ours, or its send result not stored yet) is
    not recorded, so nothing is lost if the provider delivers it again later.
    """
    with transaction.atomic():
        message = by_provider_id(channel, update.provider_message_id).first()
        if message is None:
            message = _bind_by_reference(channel, update)
        if message is None:
            logger.info("status for an unknown message on channel %s ignored", channel.pk)
            return False
        try:
            with transaction.atomic():
                DeliveryReceipt.objects.create(organization_id=channel.organization_id, channel=channel,
                                               dedupe_key=update.dedupe_key[:200])
        except IntegrityError:
            return False  # this receipt was applied before
        if message.status == Message.Status.UNKNOWN:
            message.status = Message.Status.SENDING  # the provider just told us: it did go out
        if message.status not in _OUTBOUND_STATUSES or not can_transition(message.status, update.status):
            return False
        _apply(message, update)
        partner_events.announce_status(message)
        if update.failure_outcome is SendOutcome.OPTED_OUT and message.contact is not None:
            set_consent(actor=Actor.system("status-webhook", organization_id=message.organization_id),
                        contact=message.contact, channel=channel.kind, opted_in=False,
                        source="provider:opt_out")
    return True


def _bind_by_reference(channel: Channel, update: StatusUpdate) -> Message | None:
    """The message a receipt names by our reference (``msg-<id>``) when its provider id was never
    stored (the worker died between the provider's answer and storing it): store the id now, so a
    reconciliation finds the message settled instead of marking it unknown or resending."""
    reference = update.correlation_data
    if not reference.startswith("msg-") or not reference[4:].isdigit():
        return None
    message = (Message.objects.select_for_update(of=("self",))
               .filter(channel=channel, pk=int(reference[4:]), provider_message_id="",
                       direction=Message.Direction.OUTBOUND,
                       # SENT with no id: staff settled it as "went out" without copying the id.
                       status__in=[Message.Status.SENDING, Message.Status.UNKNOWN, Message.Status.SENT])
               .select_related("contact").first())
    if message is not None:
        message.provider_message_id = update.provider_message_id
        message.lease_expires_at = None
        message.save(update_fields=["provider_message_id", "lease_expires_at"])
    return message


def _apply(message: Message, update: StatusUpdate) -> None:
    when = update.occurred_at or timezone.now()
    fields = ["status"]
    message.status = update.status.value
    stamp = _TIMESTAMP_OF.get(update.status)
    if stamp and getattr(message, stamp) is None:
        setattr(message, stamp, when)
        fields.append(stamp)
    if update.status is MessageStatus.READ and message.delivered_at is None:
        message.delivered_at = when  # WhatsApp may skip "delivered": read implies it
        fields.append("delivered_at")
    if update.status in (MessageStatus.DELIVERED, MessageStatus.READ) and message.sent_at is None:
        message.sent_at = when
        fields.append("sent_at")
    if update.error_code or update.error_message:
        message.error_code = update.error_code[:32]
        message.error_message = update.error_message or f"The provider reported error {update.error_code}."
        fields += ["error_code", "error_message"]
    message.save(update_fields=fields)
