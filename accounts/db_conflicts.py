"""Running one whole transaction again when PostgreSQL broke a deadlock or a serialization
failure: it rolled the step back entirely, so the retry is the same step, not a partial redo.

For writers that must not answer a person (or a provider) with an error for a conflict another
writer caused: inbound webhooks, the intake bot. Other errors raise at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError

logger = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
T = TypeVar("T")


def retrying_conflicts(step: Callable[[], T], *, what: str, attempts: int = 3) -> T:
    """``step()`` (which opens and commits its own transaction), again after a database conflict;
    ``what`` names it in the log (ids only, never PHI)."""
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except OperationalError as error:
            if attempt == attempts or getattr(error.__cause__, "sqlstate", "") not in RETRYABLE_SQLSTATES:
                raise
            logger.warning("%s hit a database conflict, retrying (%s)", what, attempt)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # the last attempt returns or raises
