"""Roles and the permission matrix (docs/roles.md is the readable copy; a test keeps them equal).

Services enforce these; templates only hide what a role cannot do.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    STAFF = "staff", "Staff"
    VIEWER = "viewer", "Viewer"


class Perm(StrEnum):
    CONTACTS_VIEW = "contacts.view"
    CONTACTS_EDIT = "contacts.edit"
    CONTACTS_DELETE = "contacts.delete"
    CONTACTS_IMPORT = "contacts.import"
    CONTACTS_EXPORT = "contacts.export"
    INBOX_VIEW = "messaging.view_inbox"
    MESSAGES_SEND = "messaging.send"
    CONVERSATIONS_ASSIGN = "messaging.assign"
    CHANNELS_MANAGE = "messaging.manage_channels"
    SIMULATOR_USE = "messaging.use_simulator"
    CAMPAIGNS_VIEW = "campaigns.view"
    CAMPAIGNS_MANAGE = "campaigns.manage"
    MEMBERS_MANAGE = "org.manage_members"
    ORG_SETTINGS_MANAGE = "org.manage_settings"
    AUDIT_VIEW = "org.view_audit"
    ADMIN_SITE = "org.use_admin"
    BILLING_VIEW = "billing.view"
    BILLING_MANAGE = "billing.manage"
    API_KEYS_MANAGE = "org.manage_api_keys"
    WEBHOOKS_MANAGE = "org.manage_webhooks"


_VIEWER = {Perm.CONTACTS_VIEW, Perm.INBOX_VIEW, Perm.CAMPAIGNS_VIEW}
_STAFF = _VIEWER | {
    Perm.CONTACTS_EDIT,
    Perm.CONTACTS_IMPORT,
    Perm.MESSAGES_SEND,
    Perm.CONVERSATIONS_ASSIGN,
    Perm.SIMULATOR_USE,
}
_ADMIN = _STAFF | {
    Perm.CONTACTS_DELETE,
    Perm.CONTACTS_EXPORT,
    Perm.CHANNELS_MANAGE,
    Perm.CAMPAIGNS_MANAGE,
    Perm.MEMBERS_MANAGE,
    Perm.ORG_SETTINGS_MANAGE,
    Perm.AUDIT_VIEW,
    Perm.ADMIN_SITE,
    Perm.API_KEYS_MANAGE,
    Perm.WEBHOOKS_MANAGE,
    Perm.BILLING_VIEW,  # usage against the plan; the money (prices, statements) is the owners'
}
_OWNER = _ADMIN | {Perm.BILLING_MANAGE}

ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(_OWNER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.STAFF: frozenset(_STAFF),
    Role.VIEWER: frozenset(_VIEWER),
}


def role_has(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(role, frozenset())


def require(membership, perm: Perm) -> None:
    """Raise PermissionDenied (HTTP 403) unless the membership's role grants `perm`."""
    if membership is None or not role_has(membership.role, perm):
        raise PermissionDenied("Your role in this organisation does not allow this action.")
