"""Writes of campaigns before they send: create, edit (drafts and scheduled only), the
uploaded phone list of an audience, delete, and the organisation's campaign settings."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

import audit
from accounts.roles import Perm
from audit import AuditAction
from campaigns import contacts_access, quiet_hours
from campaigns.errors import CampaignRefused
from campaigns.intake import services as intake_services
from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignAudienceNumber,
    CampaignKind,
    CampaignSettings,
    CampaignState,
    MessageTemplate,
    Questionnaire,
)
from campaigns.services._access import audit_user_id, require
from messaging.models import Channel

EDITABLE_FIELDS = ("name", "channel", "template", "questionnaire", "audience_source", "tag_ids", "tag_match",
                   "conditions", "exclude_tag_ids", "exclude_messaged_days", "send_at", "send_window_start",
                   "send_window_end")
CONDITION_OPS = ("equals", "is_empty")
MAX_UPLOAD_NUMBERS = 1_000_000


def _check_channel(actor, channel: Channel) -> None:
    actor.require_same_organization(channel)
    if not channel.is_active:
        raise CampaignRefused("channel_inactive",
                              f"The channel “{channel.name}” is switched off: choose another or "
                              "switch it on.")


def _check_template(actor, template: MessageTemplate) -> None:
    actor.require_same_organization(template)


def _check_questionnaire(actor, questionnaire: Questionnaire | None, channel: Channel) -> None:
    """A campaign may start a questionnaire that patients can answer now, on its channel."""
    if questionnaire is None:
        return
    actor.require_same_organization(questionnaire)
    problem = intake_services.unstartable(questionnaire)
    if problem is not None:  # switched off, or no questions: intake's own rule and words
        raise CampaignRefused(problem.code, f"“{questionnaire.name}”: {problem.message}")
    if channel.kind != Channel.Kind.SMS:
        # A WhatsApp campaign is an approved template; the free-form question after it would be
        # refused outside the 24-hour window (messaging's check), i.e. for most patients.
        raise CampaignRefused("questionnaire_channel",
                              "On WhatsApp a question may only follow within 24 hours of the patient's "
                              "last message, so a campaign cannot start a questionnaire there: use an SMS "
                              "channel, or have the template ask patients to reply with the "
                              "questionnaire's keyword.")


def _clean(actor, organization, values: dict) -> dict:
    cleaned: dict = {}
    for key, value in values.items():
        if key not in EDITABLE_FIELDS:
            raise CampaignRefused("unknown_field", f"“{key}” cannot be set on a campaign.")
        cleaned[key] = value
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()[:120]
        if not cleaned["name"]:
            raise CampaignRefused("name_required", "Give the campaign a name, e.g. “Flu shots October”.")
    if "channel" in cleaned:
        _check_channel(actor, cleaned["channel"])
    if "template" in cleaned:
        _check_template(actor, cleaned["template"])
    if "audience_source" in cleaned and cleaned["audience_source"] not in AudienceSource.values:
        raise CampaignRefused("audience_source",
                              "Choose who receives it: everyone, tags or an uploaded list.")
    if "tag_match" in cleaned and cleaned["tag_match"] not in Campaign.TagMatch.values:
        raise CampaignRefused("tag_match", "Choose whether patients need any or all of the tags.")
    for key in ("tag_ids", "exclude_tag_ids"):
        if key in cleaned:
            cleaned[key] = contacts_access.tag_ids_of_organization(cleaned[key] or [], actor=actor)
    if "conditions" in cleaned:
        cleaned["conditions"] = _clean_conditions(actor, organization, cleaned["conditions"] or [])
    days = cleaned.get("exclude_messaged_days")
    if days is not None and not (1 <= int(days) <= 365):
        raise CampaignRefused("exclude_days", "“Messaged in the last N days” takes 1 to 365 days.")
    send_at = cleaned.get("send_at")
    if send_at is not None and timezone.is_naive(send_at):
        raise CampaignRefused("send_at_naive", "The send time needs a time zone.")
    start, end = cleaned.get("send_window_start"), cleaned.get("send_window_end")
    if (start is None) != (end is None) and ("send_window_start" in cleaned or "send_window_end" in cleaned):
        raise CampaignRefused("window", "Give both the start and the end of the sending window, or neither.")
    if start is not None and start == end:
        raise CampaignRefused("window", "The sending window must start and end at different times.")
    return cleaned


def _clean_conditions(actor, organization, conditions: Iterable[dict]) -> list[dict]:
    cleaned = []
    for condition in conditions:
        key, op = str(condition.get("key", "")), condition.get("op")
        if op not in CONDITION_OPS:
            raise CampaignRefused("condition", "A condition is “equals” or “is empty”.")
        entry = {"key": key, "op": op}
        if op == "equals":
            try:
                entry["value"] = contacts_access.clean_condition_value(
                    key, condition.get("value"), organization.default_region, actor=actor)
            except ValueError as exc:
                raise CampaignRefused("condition", str(exc)) from None
        elif key not in contacts_access.custom_field_keys(actor=actor):
            raise CampaignRefused("condition", f"There is no custom field '{key}': choose one from the list.")
        cleaned.append(entry)
    return cleaned


@transaction.atomic
def create_campaign(*, actor, organization, name: str, kind: str, channel: Channel,
                    template: MessageTemplate, **values) -> Campaign:
    """Create a draft campaign. ``kind`` (care or outreach) is fixed from now on."""
    require(actor, Perm.CAMPAIGNS_MANAGE, organization)
    if kind not in CampaignKind.values:
        raise CampaignRefused("kind", "Choose the campaign kind: care (reminders, results) or outreach.")
    cleaned = _clean(actor, organization, {"name": name, "channel": channel, "template": template, **values})
    _check_questionnaire(actor, cleaned.get("questionnaire"), channel)
    campaign = Campaign.objects.create(organization=organization, kind=kind,
                                       created_by_id=audit_user_id(actor),
                                       state_changed_at=timezone.now(), **cleaned)
    audit.record(AuditAction.CAMPAIGN_CREATED, target=campaign, actor=actor,
                 detail={"kind": kind, "channel_id": channel.pk, "template_id": template.pk,
                         "questionnaire_id": campaign.questionnaire_id})
    return campaign


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _refuse_unless_editable(campaign: Campaign) -> None:
    if not campaign.is_editable:
        raise CampaignRefused(
            "not_editable",
            f"The campaign is {campaign.get_state_display().lower()}: only drafts and scheduled campaigns "
            "can be edited. Pause it to stop sending, or create a new campaign.")


@transaction.atomic
def update_campaign(*, actor, campaign: Campaign, **values) -> Campaign:
    """Change a draft or scheduled campaign (refused once it is running). The kind never changes."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    if "kind" in values:
        raise CampaignRefused("kind_fixed",
                              "The kind is chosen when a campaign is created: create a new one.")
    locked = _locked(campaign)
    _refuse_unless_editable(locked)
    cleaned = _clean(actor, locked.organization, values)
    if "questionnaire" in cleaned or ("channel" in cleaned and locked.questionnaire_id is not None):
        _check_questionnaire(actor, cleaned.get("questionnaire", locked.questionnaire),
                             cleaned.get("channel", locked.channel))
    if (locked.state == CampaignState.SCHEDULED and "send_at" in cleaned
            and (cleaned["send_at"] is None or cleaned["send_at"] <= timezone.now())):
        raise CampaignRefused("send_at_past",
                              "A scheduled campaign needs a send time in the future: pick one, "
                              "or unschedule it and use “Send now”.")
    changed = sorted(k for k, v in cleaned.items() if getattr(locked, k) != v)
    for key, value in cleaned.items():
        setattr(locked, key, value)
    if changed:
        locked.save()
        audit.record(AuditAction.CAMPAIGN_UPDATED, target=locked, actor=actor, detail={"fields": changed})
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def upload_audience_numbers(*, actor, campaign: Campaign, lines: Iterable[str]) -> dict[str, int]:
    """Replace the campaign's uploaded list with these phone numbers (one per line, or the first
    column of a CSV). Only blind indexes are stored; the answer counts what was read."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    locked = _locked(campaign)
    _refuse_unless_editable(locked)
    organization = locked.organization
    CampaignAudienceNumber.objects.filter(campaign=locked).delete()
    indexes: set[str] = set()
    invalid = read = 0
    for line in lines:
        raw = line.split(",", 1)[0].split(";", 1)[0].strip().strip('"')
        if not raw:
            continue
        read += 1
        if read > MAX_UPLOAD_NUMBERS:
            raise CampaignRefused("upload_too_big", f"A list holds at most {MAX_UPLOAD_NUMBERS:,} numbers.")
        try:
            indexes.add(contacts_access.phone_index_of(organization, raw))
        except contacts_access.InvalidPhoneNumber:
            invalid += 1
    CampaignAudienceNumber.objects.bulk_create(
        [CampaignAudienceNumber(organization=organization, campaign=locked, phone_index=i) for i in indexes],
        batch_size=5000)
    matched = contacts_access.base_audience(tag_ids=[], tag_match="any", uploaded_campaign_id=locked.pk,
                                            actor=actor).count()
    result = {"read": read, "numbers": len(indexes), "invalid": invalid,
              "duplicates": read - invalid - len(indexes), "matched_contacts": matched}
    locked.uploaded_numbers = len(indexes)
    locked.audience_source = AudienceSource.UPLOAD
    locked.save(update_fields=["uploaded_numbers", "audience_source", "updated_at"])
    audit.record(AuditAction.CAMPAIGN_AUDIENCE_UPLOADED, target=locked, actor=actor, detail=result)
    campaign.refresh_from_db()
    return result


@transaction.atomic
def delete_campaign(*, actor, campaign: Campaign) -> None:
    """Delete a draft or cancelled campaign (one that sent keeps its history)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, campaign)
    locked = _locked(campaign)
    if locked.state not in (CampaignState.DRAFT, CampaignState.CANCELLED) or locked.started_at:
        raise CampaignRefused("not_deletable",
                              "Only drafts, and cancelled campaigns that never started, can be deleted.")
    audit.record(AuditAction.CAMPAIGN_DELETED, target=locked, actor=actor)
    locked.delete()


@transaction.atomic
def update_campaign_settings(*, actor, organization, default_language: str | None = None,
                             send_window_start: datetime.time | None = None,
                             send_window_end: datetime.time | None = None) -> CampaignSettings:
    """Change the organisation's default language and sending window (needs org settings rights)."""
    require(actor, Perm.CAMPAIGNS_MANAGE, organization)
    settings, _created = CampaignSettings.objects.get_or_create(organization=organization)
    changed = []
    if default_language is not None:
        from campaigns.templating import normalize_language

        language = normalize_language(default_language)
        if not language or len(language) > 16:
            raise CampaignRefused("language", "Give a language code such as en, es or fr-ca.")
        if language != settings.default_language:
            settings.default_language, changed = language, [*changed, "default_language"]
    start = send_window_start if send_window_start is not None else settings.send_window_start
    end = send_window_end if send_window_end is not None else settings.send_window_end
    try:
        quiet_hours.Window(start, end)
    except ValueError as exc:
        raise CampaignRefused("window", str(exc)) from None
    for name, value in (("send_window_start", start), ("send_window_end", end)):
        if getattr(settings, name) != value:
            setattr(settings, name, value)
            changed.append(name)
    if changed:
        settings.save()
        audit.record(AuditAction.CAMPAIGN_SETTINGS_CHANGED, target=settings, actor=actor,
                     detail={"fields": changed})
    return settings
