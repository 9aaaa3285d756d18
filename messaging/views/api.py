"""Small JSON endpoints the inbox and simulator pages poll every few seconds.

They return plain text values (never HTML): the browser inserts them with textContent.
Polls are not audited one by one — opening the thread or the simulator number was.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Perm, require
from messaging import selectors
from messaging.models import Conversation
from messaging.services import outbound
from messaging.views.common import conversation_row, is_opted_out, message_row, recent_statuses
from messaging.views.inbox import inbox_view_name
from messaging.views.simulator import current_selection


def _after_id(request: HttpRequest) -> int:
    try:
        return max(0, int(request.GET.get("after", "0")))
    except ValueError:
        return 0


@login_required
@require_GET
@never_cache
def inbox_list(request: HttpRequest) -> JsonResponse:
    """The current list filter's conversations and the unread total (for the navbar badge)."""
    require(request.membership, Perm.INBOX_VIEW)
    conversations = selectors.inbox_conversations(organization=request.organization, user=request.user,
                                                  view=inbox_view_name(request))
    return JsonResponse({
        "conversations": [conversation_row(c) for c in conversations],
        "unread_total": selectors.unread_total(organization=request.organization, user=request.user),
    })


@login_required
@require_GET
@never_cache
def thread_updates(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """Messages newer than ?after=<id>, current statuses of recent ones, the thread's state.

    Another organisation's conversation id is a 404 (tenant scope), like a missing one.
    """
    require(request.membership, Perm.INBOX_VIEW)
    conversation = get_object_or_404(
        Conversation.objects.select_related("channel", "contact", "assigned_to"), pk=conversation_id)
    new = list(selectors.messages_since(conversation=conversation, after_id=_after_id(request)))
    if conversation.unread_count and any(m.direction == "inbound" for m in new):
        # The thread is open on screen: what just arrived has been seen.
        outbound.mark_conversation_read(conversation=conversation, actor=request.user)
    return JsonResponse({
        "messages": [message_row(m) for m in new],
        "statuses": recent_statuses(selectors.thread_messages(conversation)),
        "conversation": {
            "status": conversation.status,
            "opted_out": is_opted_out(conversation),
            "assignee": conversation.assigned_to.display_name if conversation.assigned_to_id else "",
        },
    })


@login_required
@require_GET
@never_cache
def simulator_updates(request: HttpRequest) -> JsonResponse:
    """The simulated phone's messages newer than ?after=<id> (the number is in the session)."""
    require(request.membership, Perm.SIMULATOR_USE)
    selection = current_selection(request)
    if selection is None:
        return JsonResponse({"messages": [], "statuses": []})
    channel, phone = selection
    messages = selectors.simulator_messages(channel=channel, phone=phone)
    return JsonResponse({
        "messages": [message_row(m) for m in messages.filter(pk__gt=_after_id(request))],
        "statuses": recent_statuses(messages),
    })
