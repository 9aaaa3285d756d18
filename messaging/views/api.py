"""Small JSON endpoints the inbox and simulator pages poll every few seconds.

They return plain text values (never HTML): the browser inserts them with textContent.
Polls are not audited one by one — opening the thread or the simulator number was.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from messaging import selectors
from messaging.services import conversations as conversation_services
from messaging.views.common import conversation_row, is_opted_out, message_row, recent_statuses
from messaging.views.inbox import inbox_view_name, seen_views
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
    """The current list filter's conversations and the unread total (for the navbar badge).

    Reads through the list page's selector: audited once per session and filter, not per poll.
    """
    conversations = selectors.inbox_conversations(actor=request.actor, view=inbox_view_name(request),
                                                  seen=seen_views(request), polling=True)
    return JsonResponse({
        "conversations": [conversation_row(c) for c in conversations],
        "unread_total": selectors.unread_total(actor=request.actor),
    })


@login_required
@require_GET
@never_cache
def thread_updates(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """Messages newer than ?after=<id>, current statuses of recent ones, the thread's state.

    Reads through the thread page's selector, so a thread is audited once per session whether
    it was opened or only polled. Another organisation's conversation id is a 404.
    """
    conversation = selectors.get_conversation(conversation_id=conversation_id, actor=request.actor,
                                              seen=seen_views(request))
    new = list(selectors.messages_since(actor=request.actor, conversation=conversation,
                                        after_id=_after_id(request)))
    if conversation.unread_count and any(m.direction == "inbound" for m in new):
        # The thread is open on screen: what just arrived has been seen.
        conversation_services.mark_conversation_read(conversation=conversation, actor=request.actor)
    return JsonResponse({
        "messages": [message_row(m) for m in new],
        "statuses": recent_statuses(selectors.thread_messages(actor=request.actor,
                                                              conversation=conversation)),
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
    """The simulated phone's messages newer than ?after=<id> (the session names the contact)."""
    selection = current_selection(request)
    if selection is None:
        return JsonResponse({"messages": [], "statuses": []})
    channel, contact = selection
    messages = selectors.simulator_phone_messages(actor=request.actor, channel=channel, contact=contact,
                                                  seen=seen_views(request))
    return JsonResponse({
        "messages": [message_row(m) for m in messages.filter(pk__gt=_after_id(request))],
        "statuses": recent_statuses(messages),
    })
