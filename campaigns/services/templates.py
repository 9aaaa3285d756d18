"""Writes of message templates and their language variants.

A variant is parsed with the organisation's custom field keys when it is saved: unknown or
malformed placeholders, tags and stray braces are refused there, with the position.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

import audit
from accounts.roles import Perm
from audit import AuditAction
from campaigns import contacts_access
from campaigns.errors import CampaignRefused
from campaigns.models import Campaign, CampaignState, MessageTemplate, TemplateVariant
from campaigns.rendering import TemplateSyntaxError, compile_expression, compile_template
from campaigns.services._access import require
from campaigns.templating import normalize_language
from messaging.models import WhatsAppTemplate

MAX_BODY = 1600
_IN_USE_STATES = (CampaignState.RUNNING, CampaignState.PAUSED)


def _check_not_sending(template: MessageTemplate) -> None:
    if Campaign.objects.filter(template=template, state__in=_IN_USE_STATES).exists():
        raise CampaignRefused(
            "template_in_use",
            "A running or paused campaign is sending this template: its text cannot change mid-send. "
            "Duplicate the template instead, or wait until the campaign finishes.")


@transaction.atomic
def create_template(*, actor, organization, name: str, on_missing: str = MessageTemplate.OnMissing.SKIP,
                    language: str = "", body: str = "", whatsapp_template: WhatsAppTemplate | None = None,
                    whatsapp_parameters: list[str] | None = None) -> MessageTemplate:
    """Create a template and, when a body or WhatsApp template is given, its first variant."""
    require(actor, Perm.CAMPAIGNS_MANAGE, organization)
    name = (name or "").strip()[:100]
    if not name:
        raise CampaignRefused("name_required", "Give the template a name, e.g. “Flu shot reminder”.")
    if on_missing not in MessageTemplate.OnMissing.values:
        raise CampaignRefused("on_missing", "Choose what happens when a value is missing: skip or blank.")
    if MessageTemplate.objects.filter(name=name).exists():
        raise CampaignRefused("name_taken", "A template with this name exists: choose another name.")
    template = MessageTemplate.objects.create(organization=organization, name=name, on_missing=on_missing)
    audit.record(AuditAction.MESSAGE_TEMPLATE_CREATED, target=template, actor=actor,
                 detail={"on_missing": on_missing})
    if body or whatsapp_template:
        from campaigns.audience import organization_settings

        save_variant(actor=actor, template=template,
                     language=language or organization_settings(organization).default_language,
                     body=body, whatsapp_template=whatsapp_template, whatsapp_parameters=whatsapp_parameters)
    return template


@transaction.atomic
def update_template(*, actor, template: MessageTemplate, name: str | None = None,
                    on_missing: str | None = None) -> MessageTemplate:
    """Rename a template or change its missing-value choice."""
    require(actor, Perm.CAMPAIGNS_MANAGE, template)
    _check_not_sending(template)
    changed = []
    if name is not None and name.strip()[:100] != template.name:
        new = name.strip()[:100]
        if not new:
            raise CampaignRefused("name_required", "A template needs a name.")
        if MessageTemplate.objects.filter(name=new).exclude(pk=template.pk).exists():
            raise CampaignRefused("name_taken", "A template with this name exists: choose another name.")
        template.name = new
        changed.append("name")
    if on_missing is not None and on_missing != template.on_missing:
        if on_missing not in MessageTemplate.OnMissing.values:
            raise CampaignRefused("on_missing", "Choose what happens when a value is missing: skip or blank.")
        template.on_missing = on_missing
        changed.append("on_missing")
    if changed:
        template.save()
        audit.record(AuditAction.MESSAGE_TEMPLATE_UPDATED, target=template, actor=actor,
                     detail={"fields": changed})
    return template


def validate_body(body: str, *, custom_keys) -> None:
    """Refuse a body that does not parse (TemplateSyntaxError → CampaignRefused with position)."""
    if len(body) > MAX_BODY:
        raise CampaignRefused("body_too_long",
                              f"The text is {len(body)} characters; the limit is {MAX_BODY}.")
    if not body.strip():
        raise CampaignRefused("body_required", "Write the message text.")
    try:
        compile_template(body, custom_keys=custom_keys)
    except TemplateSyntaxError as exc:
        raise CampaignRefused("template_syntax", exc.message, position=exc.position, line=exc.line,
                              column=exc.column) from None


@transaction.atomic
def save_variant(*, actor, template: MessageTemplate, language: str, body: str = "",
                 whatsapp_template: WhatsAppTemplate | None = None,
                 whatsapp_parameters: list[str] | None = None) -> TemplateVariant:
    """Create or replace the template's variant in ``language`` (validated, see module docstring).

    An SMS variant has a body; a WhatsApp variant names an approved WhatsApp template and one
    field expression (``first_name | "there"``) per ``{{n}}`` parameter of it.
    """
    require(actor, Perm.CAMPAIGNS_MANAGE, template)
    _check_not_sending(template)
    language = normalize_language(language)
    if not language or len(language) > 16:
        raise CampaignRefused("language", "Give the variant's language as a code such as en, es or fr-ca.")
    custom_keys = contacts_access.custom_field_keys(actor=actor)
    parameters: list[str] = []
    if whatsapp_template is not None:
        actor.require_same_organization(whatsapp_template)
        if not whatsapp_template.is_active:
            raise CampaignRefused("whatsapp_template_inactive",
                                  "That WhatsApp template is switched off: choose an approved, active one.")
        parameters = [str(p).strip() for p in (whatsapp_parameters or [])]
        if len(parameters) != whatsapp_template.parameter_count:
            raise CampaignRefused(
                "whatsapp_parameters",
                f"The WhatsApp template has {whatsapp_template.parameter_count} parameter(s); map each to a "
                f"field (you mapped {len(parameters)}).")
        for number, expression in enumerate(parameters, start=1):
            try:
                compile_expression(expression, custom_keys=custom_keys)
            except TemplateSyntaxError as exc:
                raise CampaignRefused("template_syntax",
                                      f"Parameter {{{{{number}}}}}: {exc.message}") from None
        body = ""
    else:
        validate_body(body, custom_keys=custom_keys)
    variant = TemplateVariant.objects.filter(template=template, language=language).first()
    created = variant is None
    variant = variant or TemplateVariant(organization_id=template.organization_id, template=template,
                                         language=language)
    variant.body, variant.whatsapp_template, variant.whatsapp_parameters = body, whatsapp_template, parameters
    try:
        with transaction.atomic():
            variant.save()
    except IntegrityError:
        raise CampaignRefused("variant_exists",
                              "That language was just added by someone else: reload.") from None
    MessageTemplate.objects.filter(pk=template.pk).update(updated_at=variant.updated_at)
    audit.record(AuditAction.MESSAGE_TEMPLATE_UPDATED, target=template, actor=actor,
                 detail={"variant": language, "created": created,
                         "whatsapp_template_id": whatsapp_template.pk if whatsapp_template else None})
    return variant


@transaction.atomic
def delete_variant(*, actor, variant: TemplateVariant) -> None:
    """Remove one language variant (a template keeps at least one)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, variant)
    _check_not_sending(variant.template)
    if TemplateVariant.objects.filter(template_id=variant.template_id).count() <= 1:
        raise CampaignRefused("last_variant", "A template needs at least one language: add another first.")
    audit.record(AuditAction.MESSAGE_TEMPLATE_UPDATED, target=variant.template, actor=actor,
                 detail={"variant": variant.language, "deleted": True})
    variant.delete()


@transaction.atomic
def delete_template(*, actor, template: MessageTemplate) -> None:
    """Delete a template no campaign uses."""
    require(actor, Perm.CAMPAIGNS_MANAGE, template)
    if Campaign.objects.filter(template=template).exists():
        raise CampaignRefused("template_used", "Campaigns use this template: delete or change them first.")
    audit.record(AuditAction.MESSAGE_TEMPLATE_DELETED, target=template, actor=actor)
    template.delete()
