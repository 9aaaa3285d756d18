"""Reads of conversations and messages for the partner API (cursor-paged, audited per page).

Same rules as ``messaging.selectors``: each function checks the actor's permission, sees only
the actor's organisation, and every page of PHI it hands out records one audit event naming
the actor (for the API, the key's prefix). The lists are lazy querysets the API's cursor
pagination slices; ``conversation_page``/``message_page`` record the page shown.
"""

from __future__ import annotations

from django.db.models import QuerySet

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from messaging.models import Conversation, Message
from messaging.selectors import require_actor


def partner_conversations(*, actor: Actor) -> QuerySet[Conversation]:
    """The organisation's conversations, lazy and not audited (``conversation_page`` records
    the page shown). Ids, status and times only: no contact column is loaded."""
    require_actor(actor, Perm.INBOX_VIEW)
    return Conversation.objects.filter(organization_id=actor.organization_id)


def conversation_page(*, actor: Actor, conversations: list[Conversation], filters: list[str]) -> None:
    """Record one page of conversations shown (CONVERSATIONS_LISTED: rows and filter names)."""
    require_actor(actor, Perm.INBOX_VIEW)
    for conversation in conversations:
        actor.require_same_organization(conversation)
    audit.record(AuditAction.CONVERSATIONS_LISTED, organization=actor.organization_id, actor=actor,
                 detail={"rows": len(conversations), "filters": sorted(filters)})


def partner_messages(*, actor: Actor, conversation: Conversation) -> QuerySet[Message]:
    """A conversation's messages, lazy and not audited (``message_page`` records the page shown).

    ``conversation`` comes from a selector that already checked its organisation."""
    require_actor(actor, Perm.INBOX_VIEW, conversation)
    return Message.objects.filter(organization_id=actor.organization_id, conversation=conversation)


def message_page(*, actor: Actor, conversation: Conversation, messages: list[Message]) -> None:
    """Record one page of a conversation's messages shown (MESSAGES_LISTED on the conversation:
    the row count)."""
    require_actor(actor, Perm.INBOX_VIEW, conversation)
    audit.record(AuditAction.MESSAGES_LISTED, target=conversation, actor=actor,
                 detail={"rows": len(messages)})
