"""Reads of campaigns and templates. Reads that decrypt or return PHI are audited here.

Another organisation's id answers 404, exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

import audit
from accounts.roles import Perm
from audit import AuditAction
from campaigns import billing_gate, contacts_access
from campaigns.audience import AudienceCounts, AudienceEvaluator, organization_settings
from campaigns.errors import CampaignRefused
from campaigns.models import Campaign, CampaignRecipient, CampaignState, MessageTemplate, RecipientState
from campaigns.rendering import RenderContext, TemplateSyntaxError, compile_template, render
from campaigns.services._access import require
from campaigns.templating import RenderedMessage, compile_message_template
from messaging.segments import count_segments


def campaigns(*, actor) -> QuerySet[Campaign]:
    """The organisation's campaigns, newest first (no PHI)."""
    require(actor, Perm.CAMPAIGNS_VIEW)
    # Filtered by the actor's organisation as well as the scope: two walls, not one.
    return (Campaign.objects.filter(organization_id=actor.organization_id)
            .select_related("channel", "template").order_by("-created_at", "-pk"))


def get_campaign(*, actor, campaign_id) -> Campaign:
    """One campaign of the actor's organisation (404 otherwise)."""
    require(actor, Perm.CAMPAIGNS_VIEW)
    try:
        campaign = (Campaign.objects.select_related("channel", "template", "organization")
                    .get(pk=int(campaign_id)))
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise Http404("No such campaign.") from None
    actor.require_same_organization(campaign)
    return campaign


def templates(*, actor) -> QuerySet[MessageTemplate]:
    """The organisation's message templates (not PHI)."""
    require(actor, Perm.CAMPAIGNS_VIEW)
    return (MessageTemplate.objects.filter(organization_id=actor.organization_id)
            .annotate(variant_count=Count("variants")).order_by("name"))


def get_template(*, actor, template_id) -> MessageTemplate:
    """One template of the actor's organisation (404 otherwise)."""
    require(actor, Perm.CAMPAIGNS_VIEW)
    try:
        template = MessageTemplate.objects.get(pk=int(template_id))
    except (MessageTemplate.DoesNotExist, ValueError, TypeError):
        raise Http404("No such template.") from None
    actor.require_same_organization(template)
    return template


def count_audience(*, actor, campaign: Campaign) -> AudienceCounts:
    """Eligible recipients and the excluded by reason, with segments (worst case per message).

    Decrypts the contacts it needs (names, custom values) chunk by chunk: audited as one read
    with the counts. The counts are kept on the campaign for the list and the billing check.
    """
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    try:
        counts = AudienceEvaluator(campaign, actor=actor, now=timezone.now()).count()
    except TemplateSyntaxError as exc:
        raise CampaignRefused("template_syntax", f"The template no longer parses: {exc.message}") from None
    except LookupError:
        raise CampaignRefused("no_variants",
                              "The template has no text yet: write at least one language.") from None
    summary = counts.as_dict()
    Campaign.objects.filter(pk=campaign.pk).update(audience_counts=summary,
                                                   audience_counted_at=timezone.now())
    audit.record(AuditAction.CAMPAIGN_AUDIENCE_COUNTED, target=campaign, actor=actor,
                 detail={"eligible": counts.eligible, "excluded": sum(counts.excluded.values()),
                         "segments_total": counts.segments_total})
    campaign.refresh_from_db()
    return counts


def estimate_cost(*, actor, campaign: Campaign, segments: int):
    """Billing's price of ``segments`` for the campaign's organisation."""
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    return billing_gate.estimate_campaign_cost(organization_id=campaign.organization_id, segments=segments)


@dataclass(frozen=True)
class Preview:
    contact_id: int
    message: RenderedMessage
    skipped_for_missing: bool


def preview_for_contact(*, actor, template: MessageTemplate, query: str, organization) -> Preview | None:
    """The template rendered for one contact staff picked (id, phone, e-mail or name): an
    audited PHI read (CAMPAIGN_PREVIEWED names the contact and the template). None: no match."""
    require(actor, Perm.CAMPAIGNS_VIEW, template)
    require(actor, Perm.CONTACTS_VIEW)
    contact = contacts_access.find_contact_for_preview(organization, query, actor=actor)
    if contact is None:
        return None
    settings = organization_settings(organization)
    try:
        compiled = compile_message_template(template, default_language=settings.default_language,
                                            custom_keys=contacts_access.custom_field_keys(actor=actor))
    except TemplateSyntaxError as exc:
        raise CampaignRefused("template_syntax", f"The template no longer parses: {exc.message}") from None
    except LookupError:
        raise CampaignRefused("no_variants",
                              "The template has no text yet: write at least one language.") from None
    context = RenderContext(first_name=contact.first_name, last_name=contact.last_name,
                            organisation=organization.name, custom=contact.custom_values or {})
    message = compiled.variant_for(contact.language).render(context)
    audit.record(AuditAction.CAMPAIGN_PREVIEWED, target=contact, actor=actor,
                 detail={"template_id": template.pk, "language": message.language or None})
    return Preview(contact.pk, message, bool(message.missing) and compiled.skip_on_missing)


def recipient_counts(*, actor, campaign: Campaign) -> dict[str, int]:
    """Recipients per state and skipped per reason (no PHI), every state present."""
    require(actor, Perm.CAMPAIGNS_VIEW, campaign)
    counts = {state: 0 for state in RecipientState.values}
    rows = CampaignRecipient.objects.filter(campaign=campaign).values("state").annotate(n=Count("pk"))
    for row in rows:
        counts[row["state"]] = row["n"]
    reasons = (CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.SKIPPED)
               .values("skip_reason").annotate(n=Count("pk")))
    counts["skipped_by_reason"] = {row["skip_reason"]: row["n"] for row in reasons}
    counts["total"] = sum(counts[s] for s in RecipientState.values)
    return counts


@dataclass(frozen=True)
class DispatchGate:
    """What a dispatcher may do with a campaign right now (read fresh before every chunk)."""

    state: str
    pause_reason: str

    @property
    def may_send(self) -> bool:
        return self.state == CampaignState.RUNNING


def dispatch_gate(*, campaign_id: int) -> DispatchGate:
    """One indexed read of the campaign's state: pause, resume and cancel reach every worker
    at its next chunk. For system code paths (the dispatcher) that run in the org's scope."""
    row = Campaign.objects.filter(pk=campaign_id).values_list("state", "pause_reason").first()
    if row is None:
        return DispatchGate(CampaignState.CANCELLED, "deleted")
    return DispatchGate(*row)


@dataclass(frozen=True)
class LivePreview:
    """The editor's live preview: the rendered text and its cost, or the syntax error."""

    text: str = ""
    segments: int = 0
    encoding: str = ""
    characters: int = 0
    missing: tuple[str, ...] = ()
    error: str = ""
    error_line: int = 0
    error_column: int = 0
    contact_id: int | None = None


def live_preview(*, actor, organization, body: str, query: str = "") -> LivePreview:
    """Render an unsaved body for a sample patient, or for the contact ``query`` names (then an
    audited PHI read, CAMPAIGN_PREVIEWED). Syntax errors come back with their position."""
    require(actor, Perm.CAMPAIGNS_VIEW, organization)
    labels = contacts_access.custom_field_keys(actor=actor)
    try:
        compiled = compile_template(body, custom_keys=labels)
    except TemplateSyntaxError as exc:
        return LivePreview(error=exc.message, error_line=exc.line, error_column=exc.column)
    contact = None
    if query.strip():
        require(actor, Perm.CONTACTS_VIEW)
        contact = contacts_access.find_contact_for_preview(organization, query, actor=actor)
    if contact is not None:
        context = RenderContext(first_name=contact.first_name, last_name=contact.last_name,
                                organisation=organization.name, custom=contact.custom_values or {})
        audit.record(AuditAction.CAMPAIGN_PREVIEWED, target=contact, actor=actor,
                     detail={"template_id": None})
    else:
        context = RenderContext(first_name="Alex", last_name="Sample", organisation=organization.name,
                                custom={key: f"[{label}]" for key, label in labels.items()})
    rendered = render(compiled, context)
    info = count_segments(rendered.text)
    return LivePreview(text=rendered.text, segments=info.segments, encoding=info.encoding,
                       characters=info.characters, missing=tuple(sorted(rendered.missing)),
                       contact_id=contact.pk if contact else None)
