"""The session advisory locks a sender holds on the messages it is sending (dispatch step 1): a
live worker holding one is sending that message now; a lock dies with its holder's database
connection, so a crashed worker never blocks a message."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger("messaging.services.dispatch")

_MESSAGE_LOCK_SPACE = 0x4D53 << 40  # one-key advisory locks: "MS" + message id


@contextmanager
def message_lock(message_id: int) -> Iterator[bool]:
    """Hold the message's session advisory lock (True), or learn a live worker holds it (False)."""
    with message_locks([message_id]) as held:
        yield int(message_id) in held


@contextmanager
def message_locks(message_ids: list[int]) -> Iterator[set[int]]:
    """Take the session advisory locks of many messages in one statement: the ids this session
    now holds (the others are held by live workers sending them). A lock dies with its holder's
    database connection, so a crashed worker never blocks a message."""
    if connection.vendor != "postgresql":
        yield {int(m) for m in message_ids}  # the embedded mode runs tasks in one process, one at a time
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM unnest(%s::bigint[]) AS id WHERE pg_try_advisory_lock(%s + id)",
                       [[int(m) for m in message_ids], _MESSAGE_LOCK_SPACE])
        held = {row[0] for row in cursor.fetchall()}
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s + id) FROM unnest(%s::bigint[]) AS id",
                                   [_MESSAGE_LOCK_SPACE, list(held)])
            except DatabaseError:
                logger.warning("dispatch locks of %s messages not released (connection lost)", len(held))
