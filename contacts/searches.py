"""Saved searches: what was typed in the contact search lives server-side, the URL carries a token.

A search holds names, phone numbers and e-mail addresses: in a query string they would land
in the web server's and proxies' access logs, the browser history and the Referer header. The
search form POSTs; the filters are kept in the cache under a random, short-lived token bound
to the person and organisation who searched — the typed text encrypted under the
organisation's data key, so the cache holds no plaintext PHI either. Links (pages, export)
carry only ``?s=<token>``.
"""

from __future__ import annotations

import dataclasses
import secrets

from django.conf import settings
from django.core.cache import cache

from accounts import crypto
from accounts.actor import Actor
from accounts.roles import Perm
from contacts.selectors import ContactFilters

_PREFIX = "contacts:search:"
_CONTEXT = "contacts.saved_search"


def _ttl() -> int:
    return int(getattr(settings, "CONTACT_SEARCH_TTL_SECONDS", 1800))


def save_search(*, actor: Actor, filters: ContactFilters) -> str:
    """Keep ``filters`` for a while and return the opaque token that names them."""
    actor.require(Perm.CONTACTS_VIEW)
    token = secrets.token_urlsafe(16)
    entry = dataclasses.asdict(filters)
    query = entry.pop("query", "")
    if query:
        query = crypto.encrypt(query, organization_id=actor.organization_id, context=_CONTEXT)
    entry["query"] = query
    cache.set(_PREFIX + token, {"org": actor.organization_id, "who": str(actor), "filters": entry}, _ttl())
    return token


def load_search(*, actor: Actor, token: str) -> ContactFilters | None:
    """The filters a token names, or None when it expired, is unknown, or is someone else's."""
    actor.require(Perm.CONTACTS_VIEW)
    if not token or len(token) > 64:
        return None
    entry = cache.get(_PREFIX + token)
    if not entry or entry.get("org") != actor.organization_id or entry.get("who") != str(actor):
        return None
    values = dict(entry["filters"])
    if values.get("query"):
        values["query"] = crypto.decrypt(values["query"], context=_CONTEXT)
    return ContactFilters(**values)
