"""Creating and revoking partner-API keys (owners and admins), audited."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.api_keys import API_SCOPES, ApiKey, permissions_of
from accounts.roles import Perm
from audit import AuditAction

MAX_NAME_LENGTH = 50


@transaction.atomic
def create_api_key(*, actor: Actor, name: str, scopes: list[str],
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for the actor's organisation: the row and the key itself, shown only once.

    A person can grant only scopes whose permissions their own role holds, so a key never
    does more than its creator could.
    """
    actor.require(Perm.API_KEYS_MANAGE)
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"Give the key a name of 1 to {MAX_NAME_LENGTH} characters "
                                       "(e.g. the partner system it is for)."})
    scopes = sorted(set(scopes or []))
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown or not scopes:
        raise ValidationError({"scopes": "Choose at least one of the listed scopes."})
    if not permissions_of(scopes) <= actor.permissions:
        raise ValidationError({"scopes": "You can only grant scopes your own role has."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future (or leave it empty)."})
    # The key's primary key embeds its hash: audit events name it by its public prefix only.
    key, plaintext = ApiKey.objects.create_key(
        organization_id=actor.organization_id, name=name, scopes=scopes, expiry_date=expires_at,
        created_by_id=actor.user_id)
    audit.record(AuditAction.API_KEY_CREATED, actor=actor,
                 organization=actor.organization_id,
                 detail={"prefix": key.prefix, "scopes": scopes, "expires": expires_at is not None})
    return key, plaintext


@transaction.atomic
def revoke_api_key(*, actor: Actor, key_id: str) -> ApiKey:
    """Revoke a key at once (it cannot be undone); another organisation's key is not found."""
    actor.require(Perm.API_KEYS_MANAGE)
    key = ApiKey.objects.select_for_update().get(pk=key_id, organization_id=actor.organization_id)
    if not key.revoked:
        key.revoked, key.revoked_at = True, timezone.now()
        key.save(update_fields=["revoked", "revoked_at"])
        audit.record(AuditAction.API_KEY_REVOKED, actor=actor,
                     organization=actor.organization_id, detail={"prefix": key.prefix})
    return key


def list_api_keys(*, actor: Actor):
    """The organisation's keys, newest first (no secrets: only prefixes are stored)."""
    actor.require(Perm.API_KEYS_MANAGE)
    return ApiKey.objects.filter(organization_id=actor.organization_id).order_by("-created")
