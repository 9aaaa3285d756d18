"""Inbox actions on a conversation: open (for one patient), assign, close, reopen, mark read.

Each takes the ``actor`` (accounts.Actor) and checks its permission and organisation itself:
a conversation of another organisation is refused (``WrongOrganization``) like a missing right.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.models import Membership
from accounts.roles import Perm
from audit import AuditAction
from messaging.models import Conversation
from messaging.selectors import require_actor


@transaction.atomic
def assign_conversation(*, conversation: Conversation, assignee, actor: Actor) -> Conversation:
    """Assign ``conversation`` to ``assignee`` (a member of its organisation), or unassign with None."""
    require_actor(actor, Perm.CONVERSATIONS_ASSIGN, conversation)
    if assignee is not None and not Membership.objects.filter(
            user=assignee, organization_id=conversation.organization_id).exists():
        raise ValidationError("That person is not a member of this organisation: choose a colleague from "
                              "the list, or invite them first.")
    conversation.assigned_to = assignee
    conversation.save(update_fields=["assigned_to"])
    audit.record(AuditAction.CONVERSATION_ASSIGNED, target=conversation, actor=actor,
                 detail={"assignee_id": assignee.pk if assignee is not None else None})
    return conversation


@transaction.atomic
def close_conversation(*, conversation: Conversation, actor: Actor) -> Conversation:
    """Close an open conversation (the patient's next message opens a new one). Closing twice is a no-op."""
    require_actor(actor, Perm.CONVERSATIONS_ASSIGN, conversation)
    if conversation.status == Conversation.Status.CLOSED:
        return conversation
    conversation.status = Conversation.Status.CLOSED
    conversation.closed_at = timezone.now()
    conversation.save(update_fields=["status", "closed_at"])
    audit.record(AuditAction.CONVERSATION_CLOSED, target=conversation, actor=actor)
    return conversation


def reopen_conversation(*, conversation: Conversation, actor: Actor) -> Conversation:
    """Reopen a closed conversation, unless the patient already has a newer open one on that channel."""
    require_actor(actor, Perm.CONVERSATIONS_ASSIGN, conversation)
    if conversation.status == Conversation.Status.OPEN:
        return conversation
    try:
        with transaction.atomic():
            conversation.status = Conversation.Status.OPEN
            conversation.closed_at = None
            conversation.save(update_fields=["status", "closed_at"])
            audit.record(AuditAction.CONVERSATION_REOPENED, target=conversation, actor=actor)
    except IntegrityError:
        conversation.status = Conversation.Status.CLOSED
        raise ValidationError("This patient already has an open conversation on this channel: continue "
                              "there instead.") from None
    return conversation


def mark_conversation_read(*, conversation: Conversation, actor: Actor) -> Conversation:
    """Clear the unread count (opening the thread is what the audit log records, not this)."""
    require_actor(actor, Perm.INBOX_VIEW, conversation)
    if conversation.unread_count:
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0
    return conversation


def open_conversation(*, channel, contact, actor: Actor) -> Conversation:
    """The patient's open conversation on ``channel``, opened now if there is none: for a member
    who starts a thread with one patient (sending them a questionnaire), so what is sent and
    answered shows in the inbox. Bulk sends do not open one per patient (campaigns.replies)."""
    require_actor(actor, Perm.MESSAGES_SEND, channel)
    actor.require_same_organization(contact)
    open_now = Conversation.objects.filter(channel=channel, contact=contact, status=Conversation.Status.OPEN)
    found = open_now.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():  # the partial unique constraint settles a race with an inbound message
            return Conversation.objects.create(organization_id=channel.organization_id, channel=channel,
                                               contact=contact, last_message_at=timezone.now())
    except IntegrityError:
        return open_now.get()
