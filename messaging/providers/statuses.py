"""Rules for moving a message's delivery status forward.

Provider webhooks arrive late, duplicated and out of order, so a status update is only
applied when it moves the message forward (PROVIDERS.md §4): terminal states never
regress, and ``read`` implies ``delivered``.
"""

from __future__ import annotations

from messaging.providers.messages import MessageStatus

# Forward progress of a message that is getting through.
_PROGRESS = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
FAILURE_STATUSES = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})
TERMINAL_STATUSES = FAILURE_STATUSES | {MessageStatus.READ}


def can_transition(current: MessageStatus | str | None, new: MessageStatus | str) -> bool:
    """Return True if a message in ``current`` status should take the ``new`` status.

    - nothing recorded yet: any status applies;
    - failed/undelivered/read are terminal: nothing replaces them;
    - a failure applies unless the message was already delivered (a late ``failed``
      from another device must not hide a delivery);
    - otherwise only forward progress applies (``read`` after ``sent`` skips
      ``delivered``, which is fine: read implies delivered).
    """
    new = MessageStatus(new)
    if current is None or current == "":
        return True
    current = MessageStatus(current)
    if current in TERMINAL_STATUSES:
        return False
    if new in FAILURE_STATUSES:
        return current is not MessageStatus.DELIVERED
    return _PROGRESS[new] > _PROGRESS[current]
