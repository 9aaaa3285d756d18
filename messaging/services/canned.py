"""Canned responses: the replies staff insert with one click. Every write checked and audited.

The web UI (the canned-responses page) and the Django admin both call these. Canned texts are
written by staff, not patients, but they are quoted back to patients: audit details name the
fields that changed, never their text.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from messaging.models import CannedResponse
from messaging.selectors import require_actor

FIELDS = ("title", "body")


def canned_responses(*, actor: Actor) -> list[CannedResponse]:
    """The organisation's canned responses, by title (for the thread's picker and the admin page)."""
    require_actor(actor, Perm.INBOX_VIEW)
    return list(CannedResponse.objects.filter(organization_id=actor.organization_id).order_by("title", "pk"))


def get_canned_response(*, actor: Actor, canned_id: int | str) -> CannedResponse:
    """One canned response to edit; another organisation's id answers 404 like a missing one."""
    require_actor(actor, Perm.CHANNELS_MANAGE)
    try:
        return CannedResponse.objects.get(pk=int(canned_id), organization_id=actor.organization_id)
    except (CannedResponse.DoesNotExist, TypeError, ValueError):
        raise Http404("No such canned response.") from None


def _validated(canned: CannedResponse) -> CannedResponse:
    canned.title = (canned.title or "").strip()
    canned.body = (canned.body or "").strip()
    if not canned.title or not canned.body:
        raise ValidationError("A canned response needs a title and a text: fill both.")
    canned.full_clean(exclude=["organization"])
    return canned


@transaction.atomic
def create_canned_response(*, actor: Actor, title: str, body: str) -> CannedResponse:
    """Add a canned response to the actor's organisation (admins)."""
    require_actor(actor, Perm.CHANNELS_MANAGE)
    canned = _validated(CannedResponse(organization_id=actor.organization_id, title=title, body=body))
    canned.save()
    audit.record(AuditAction.CANNED_RESPONSE_CREATED, target=canned, actor=actor,
                 detail={"fields": list(FIELDS)})
    return canned


@transaction.atomic
def update_canned_response(*, actor: Actor, canned: CannedResponse, title: str, body: str) -> CannedResponse:
    """Change a canned response (admins); the audit event names the fields that changed."""
    require_actor(actor, Perm.CHANNELS_MANAGE, canned)
    stored = (CannedResponse.objects.select_for_update()
              .get(pk=canned.pk, organization_id=actor.organization_id))
    before = {name: getattr(stored, name) for name in FIELDS}
    stored.title, stored.body = title, body
    _validated(stored)
    changed = [name for name in FIELDS if getattr(stored, name) != before[name]]
    if changed:
        stored.save(update_fields=changed)
        audit.record(AuditAction.CANNED_RESPONSE_UPDATED, target=stored, actor=actor,
                     detail={"fields": changed})
    canned.title, canned.body = stored.title, stored.body
    return stored


@transaction.atomic
def delete_canned_response(*, actor: Actor, canned: CannedResponse) -> None:
    """Remove a canned response (admins)."""
    require_actor(actor, Perm.CHANNELS_MANAGE, canned)
    canned_id = canned.pk
    audit.record(AuditAction.CANNED_RESPONSE_DELETED, target=canned, actor=actor,
                 detail={"canned_response_id": canned_id})
    canned.delete()
