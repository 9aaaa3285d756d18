"""Queue an account e-mail's task, or keep it for the sweeper when the broker is unreachable.

Sign-up and password reset answer their visitor the same way whatever happens here: a broker
outage neither shows as a 500 nor loses the e-mail. The request does the same work as usual
(the task would only have been queued), so an outage changes nothing a visitor can time:
sending synchronously instead would make known addresses slower than unknown ones.
"""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)

# What the broker client raises when Redis is unreachable (kombu wraps most; some escape bare).
BROKER_DOWN = (OperationalError, ConnectionError, OSError)


def queue_account_email(task, *, user_id: int) -> None:
    """`task.delay(user_id=...)`, or a PendingEmail row when the broker is down."""
    try:
        task.delay(user_id=user_id)
    except BROKER_DOWN:
        from accounts.models import PendingEmail

        PendingEmail.objects.create(task_name=task.name, user_id=user_id)
        log.warning("Broker unreachable: %s kept for the pending-e-mail sweeper.", task.name)
