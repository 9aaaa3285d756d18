"""The channel a webhook URL names, cached per process.

Every webhook starts by finding its channel and decrypting its credentials; at hundreds of
requests a second that lookup was the largest single cost of the request. Entries live
``WEBHOOK_CHANNEL_CACHE_SECONDS`` (accounts/process_cache.py); saving or deleting a channel or
its organisation drops this process's entries at once and again on commit, and other processes
see the change within that time. Unknown ids are never cached (random ids must not fill memory)
and always cost a query.
"""

from __future__ import annotations

import copy
from uuid import UUID

from django.conf import settings
from django_scopes import scopes_disabled

from accounts.models import Organization
from accounts.process_cache import ProcessCache
from messaging.models import Channel

_entries = ProcessCache(lambda: settings.WEBHOOK_CHANNEL_CACHE_SECONDS)
_entries.forget_when_changed(Channel, key=lambda channel: channel.webhook_id)
_entries.forget_when_changed(Organization)  # rare; an organisation may own several channels


def channel_for_webhook(webhook_id: UUID) -> Channel | None:
    """A private copy of the channel (with its organisation) for ``webhook_id``, or None."""
    channel = _entries.get(webhook_id, lambda: _read(webhook_id))
    return None if channel is None else _private_copy(channel)


def _read(webhook_id: UUID) -> Channel | None:
    # The URL is what tells us the tenant, so this one lookup cannot be scoped yet; it reads
    # a random, unguessable id and the caller enters the channel's own scope right after.
    with scopes_disabled():  # the URL names the tenant: see above
        return Channel.objects.select_related("organization").filter(webhook_id=webhook_id).first()


def forget_all() -> None:
    """Drop every entry (tests; an organisation changed)."""
    _entries.forget()


def _private_copy(channel: Channel) -> Channel:
    # A request may set attributes on its instances; the cached one must not see them.
    mine = copy.copy(channel)
    mine.organization = copy.copy(channel.organization)
    mine.credentials = copy.deepcopy(channel.credentials)
    return mine
