"""The API key a request presents, cached per process for ``API_KEY_CACHE_SECONDS``.

Finding the key (by its prefix, with its organisation) was a tenth of an API request's CPU.
The cache keeps the row, never the secret: every request still verifies its token against the
stored hash. Revoking a key, changing it or its organisation drops this process's entry at once
and again on commit; other processes refuse the key within the cache's lifetime (2 s by default).
Unknown prefixes are never cached (random tokens must not fill memory).
"""

from __future__ import annotations

import copy

from django.conf import settings
from django_scopes import scopes_disabled

from accounts.api_keys import ApiKey
from accounts.models import Organization
from accounts.process_cache import ProcessCache

_entries = ProcessCache(lambda: settings.API_KEY_CACHE_SECONDS)
_entries.forget_when_changed(ApiKey, key=lambda key: key.prefix)
_entries.forget_when_changed(Organization)  # rare; an organisation may hold several keys


def usable_key(token: str) -> ApiKey | None:
    """A private copy of the unrevoked key ``token`` is, with its organisation; else None."""
    prefix = token.partition(".")[0]
    key = _entries.get(prefix, lambda: _read(prefix))
    if key is None or not key.is_valid(token):
        return None
    mine = copy.copy(key)
    mine.organization = copy.copy(key.organization)
    return mine


def touched(key: ApiKey) -> None:
    """Note a ``last_used_at`` just written, so the cached row does not ask for the write again."""
    cached = _entries.peek(key.prefix)
    if cached is not None:
        cached.last_used_at = key.last_used_at


def _read(prefix: str) -> ApiKey | None:
    with scopes_disabled():  # the door finds the key before it knows the tenant: the key names it
        return ApiKey.objects.get_usable_keys().filter(prefix=prefix).first()
