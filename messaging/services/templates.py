"""WhatsApp templates (approved by Meta): the only thing a WhatsApp channel may send outside the
24-hour window. Every write checked and audited; the Django admin calls these.

A template belongs to one WhatsApp channel of the actor's organisation. Audit details name
the fields that changed and ids, never the preview text.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

import audit
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from messaging.models import Channel, WhatsAppTemplate
from messaging.selectors import require_actor

FIELDS = ("channel", "name", "language", "preview", "parameter_count", "is_active")
MAX_PARAMETERS = 10  # what the thread's template form offers (TemplateSendForm.MAX_PARAMETERS)
_DUPLICATE = "This channel already has a template with that name and language: edit that one instead."


def active_templates(*, actor: Actor, channel: Channel) -> list[WhatsAppTemplate]:
    """A WhatsApp channel's active templates, by name (the thread's template picker)."""
    require_actor(actor, Perm.INBOX_VIEW, channel)
    if channel.kind != Channel.Kind.WHATSAPP:
        return []
    return list(WhatsAppTemplate.objects.filter(channel=channel, is_active=True).order_by("name", "pk"))


def _check(actor: Actor, template: WhatsAppTemplate) -> None:
    channel = template.channel
    actor.require_same_organization(channel)
    if channel.kind != Channel.Kind.WHATSAPP:
        raise ValidationError({"channel": "Templates belong to WhatsApp channels: choose a WhatsApp "
                                          "channel."})
    template.name = (template.name or "").strip()
    template.language = (template.language or "").strip()
    if not template.name or not template.language:
        raise ValidationError("A template needs its approved name and language (e.g. en_US).")
    if template.parameter_count > MAX_PARAMETERS:
        raise ValidationError({"parameter_count": f"Templates with up to {MAX_PARAMETERS} parameters can "
                                                  "be sent from the inbox: check the approved template."})
    template.full_clean(exclude=["organization", "channel"], validate_unique=False)
    clash = (WhatsAppTemplate.objects.filter(channel=template.channel, name=template.name,
                                             language=template.language).exclude(pk=template.pk))
    if clash.exists():
        raise ValidationError(_DUPLICATE)


def _save(template: WhatsAppTemplate, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            template.save(**kwargs)
    except IntegrityError:  # a concurrent save of the same name and language
        raise ValidationError(_DUPLICATE) from None


@transaction.atomic
def create_whatsapp_template(*, actor: Actor, channel: Channel, name: str, language: str = "en_US",
                             preview: str = "", parameter_count: int = 0,
                             is_active: bool = True) -> WhatsAppTemplate:
    """Register a template Meta approved for one of the organisation's WhatsApp channels (admins)."""
    require_actor(actor, Perm.CHANNELS_MANAGE, channel)
    template = WhatsAppTemplate(organization_id=actor.organization_id, channel=channel, name=name,
                                language=language, preview=preview, parameter_count=parameter_count,
                                is_active=is_active)
    _check(actor, template)
    _save(template)
    audit.record(AuditAction.WHATSAPP_TEMPLATE_CREATED, target=template, actor=actor,
                 detail={"channel_id": channel.pk, "fields": list(FIELDS)})
    return template


@transaction.atomic
def update_whatsapp_template(*, actor: Actor, template: WhatsAppTemplate, **values: Any) -> WhatsAppTemplate:
    """Change a template (admins): any of ``FIELDS``; the audit event names those that changed."""
    require_actor(actor, Perm.CHANNELS_MANAGE, template)
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"Unknown template fields: {', '.join(sorted(unknown))}")
    stored = (WhatsAppTemplate.objects.select_for_update().select_related("channel")
              .get(pk=template.pk, organization_id=actor.organization_id))
    before = {name: getattr(stored, name) for name in FIELDS}
    for name, value in values.items():
        setattr(stored, name, value)
    _check(actor, stored)
    changed = [name for name in FIELDS if getattr(stored, name) != before[name]]
    if changed:
        _save(stored, update_fields=changed)
        audit.record(AuditAction.WHATSAPP_TEMPLATE_UPDATED, target=stored, actor=actor,
                     detail={"channel_id": stored.channel_id, "fields": changed})
    return stored


@transaction.atomic
def delete_whatsapp_template(*, actor: Actor, template: WhatsAppTemplate) -> None:
    """Remove a template (admins). Messages already sent keep the template's name."""
    require_actor(actor, Perm.CHANNELS_MANAGE, template)
    audit.record(AuditAction.WHATSAPP_TEMPLATE_DELETED, target=template, actor=actor,
                 detail={"channel_id": template.channel_id, "whatsapp_template_id": template.pk})
    template.delete()
