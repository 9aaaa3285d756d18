"""Template helpers of the messaging UI: the navbar's unread badge and message status badges."""

from __future__ import annotations

from django import template

from accounts.roles import Perm
from messaging.views.common import STATUS_BADGES

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread_total(context) -> int:
    """Unread inbound messages in the conversations this user sees (0 without inbox access).

    A tag rather than a context processor so pages without the navbar pay nothing.
    """
    request = context.get("request")
    actor = getattr(request, "actor", None)
    if actor is None or not actor.can(Perm.INBOX_VIEW):
        return 0
    from messaging.selectors import unread_total  # the selectors import models: load lazily

    return unread_total(actor=actor)


@register.filter
def status_badge(status: str) -> str:
    """The Bootstrap badge class of a message status."""
    return STATUS_BADGES.get(status, "text-bg-secondary")
