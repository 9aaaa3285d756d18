"""Tasks used only by the worker fault tests (loaded into the test worker with -I)."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from accounts.tenancy import OrgTask
from contacts.models import Contact


@shared_task(base=OrgTask, bind=True, name="tests.slow_count_contacts")
def slow_count_contacts(self, *, org_id: int, marker: str, seconds: float) -> None:
    """Counts this organisation's contacts slowly; records each start and the finish in the cache."""
    cache.add(f"{marker}:starts", 0)
    cache.incr(f"{marker}:starts")
    time.sleep(seconds)
    cache.set(f"{marker}:done", Contact.objects.count())
