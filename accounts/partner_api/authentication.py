"""API-key authentication: the key names the organisation, and so the tenant scope.

The organisation never comes from the request body or URL. An unknown, revoked or expired
key gets the same 401 with no hint which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django_scopes import scopes_disabled
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.actor import Actor
from accounts.api_keys import KEY_PREFIX, ApiKey
from accounts.partner_api.key_cache import touched, usable_key

_REFUSED = "Authentication failed: send a valid, unrevoked API key as 'Authorization: Bearer crk_…'."
# last_used_at is written at most this often per key (a write per request would be a hot row).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiPrincipal:
    """What DRF calls ``request.user`` on the API: the key's actor and organisation."""

    actor: Actor
    organization: object
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return self.actor.pk


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer crk_…`` (or ``Api-Key crk_…``)."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "api-key") or not token.startswith(KEY_PREFIX):
            raise AuthenticationFailed(_REFUSED)
        # The door finds the key before it knows the tenant: by its unique prefix, then the hash.
        key = usable_key(token)
        if key is None:
            raise AuthenticationFailed(_REFUSED)
        organization = key.organization
        if key.has_expired or not organization.is_active or organization.keys_destroyed_at:
            raise AuthenticationFailed(_REFUSED)
        _touch(key)
        actor = Actor.api_key(key_id=key.prefix, organization_id=organization.pk,
                              permissions=key.permissions)
        return ApiPrincipal(actor=actor, organization=organization), key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="CareRelay API"'


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        with scopes_disabled():  # the same row authentication just read, by primary key
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        touched(key)
