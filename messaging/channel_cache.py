"""The channel a webhook URL names, cached per process.

Every webhook starts by finding its channel and decrypting its credentials; at hundreds of
requests a second that lookup was the largest single cost of the request. Entries live
``WEBHOOK_CHANNEL_CACHE_SECONDS``; saving or deleting a channel or its organisation drops
this process's entries at once and again on commit, and other processes see the change within
that time.
Unknown ids are never cached (random ids must not fill memory) and always cost a query.
"""

from __future__ import annotations

import copy
import threading
import time
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_scopes import scopes_disabled

from accounts.models import Organization
from messaging.models import Channel

_MAX_ENTRIES = 10_000
_entries: dict[UUID, tuple[float, Channel]] = {}
_lock = threading.Lock()  # gthread workers share the dict
# Bumped by every change: a lookup that read the database before a change committed must not
# store what it read (it may be the old row) once the change has dropped the entry.
_generation = 0


def channel_for_webhook(webhook_id: UUID) -> Channel | None:
    """A private copy of the channel (with its organisation) for ``webhook_id``, or None."""
    now = time.monotonic()
    entry = _entries.get(webhook_id)
    if entry is not None and entry[0] > now:
        return _private_copy(entry[1])
    generation = _generation
    # The URL is what tells us the tenant, so this one lookup cannot be scoped yet; it reads
    # a random, unguessable id and the caller enters the channel's own scope right after.
    with scopes_disabled():  # the URL names the tenant: see above
        channel = Channel.objects.select_related("organization").filter(webhook_id=webhook_id).first()
    if channel is None:
        return None
    ttl = settings.WEBHOOK_CHANNEL_CACHE_SECONDS
    if ttl > 0:
        with _lock:
            if generation == _generation:  # else a change began meanwhile: don't keep this read
                if len(_entries) >= _MAX_ENTRIES:
                    _entries.clear()
                _entries[webhook_id] = (now + ttl, channel)
        return _private_copy(channel)
    return channel


def forget_all() -> None:
    """Drop every entry (tests; an organisation changed)."""
    _forget(None)


def _forget(webhook_id: UUID | None) -> None:
    global _generation
    with _lock:
        _generation += 1
        if webhook_id is None:
            _entries.clear()
        else:
            _entries.pop(webhook_id, None)


def _forget_now_and_on_commit(webhook_id: UUID | None) -> None:
    # Signals fire inside the writer's transaction: another thread may still read (and cache)
    # the old committed row until the commit, so drop the entry again once the change is visible.
    _forget(webhook_id)
    transaction.on_commit(partial(_forget, webhook_id))


def _private_copy(channel: Channel) -> Channel:
    # A request may set attributes on its instances; the cached one must not see them.
    mine = copy.copy(channel)
    mine.organization = copy.copy(channel.organization)
    mine.credentials = copy.deepcopy(channel.credentials)
    return mine


@receiver([post_save, post_delete], sender=Channel, dispatch_uid="channel_cache.channel_changed")
def _channel_changed(sender, instance: Channel, **kwargs) -> None:
    _forget_now_and_on_commit(instance.webhook_id)


@receiver([post_save, post_delete], sender=Organization, dispatch_uid="channel_cache.organization_changed")
def _organization_changed(sender, instance: Organization, **kwargs) -> None:
    _forget_now_and_on_commit(None)  # rare; an organisation may own several channels
