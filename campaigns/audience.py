"""Who a campaign reaches, and why the others are left out — one evaluation for the count
staff see before sending and for the fan-out that creates the recipient rows.

Memory is bounded: contacts are read in keyset chunks (campaigns.contacts_access), only the
columns the campaign needs are loaded (so only those are decrypted), and nothing but the
current chunk and a few counters is held.

Custom-field conditions are evaluated in Python over the decrypted values of each chunk.
contacts keeps custom values as one encrypted JSON column with no blind index per field, so
SQL cannot compare them; a per-field blind index would also only answer "equals" for exact
bytes (not case-insensitive matches, not "is empty" without storing an index of absence)
and would let anyone with database access group patients by a diagnosis field's value.
Decrypting in chunks costs one AES-GCM open per contact — small next to rendering.

Per contact, the first reason that applies wins, in this order: no number, invalid number
for the channel, opted out, no opt-in (outreach only), excluded tag, messaged recently,
missing value, duplicate (another contact with the same number is already in).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings as django_settings

from campaigns import contacts_access, quiet_hours
from campaigns.models import AudienceSource, Campaign, CampaignKind, CampaignSettings, SkipReason
from campaigns.rendering import RenderContext
from campaigns.templating import CompiledMessageTemplate, compile_message_template

DEFAULT_CHUNK = 2000  # settings.CAMPAIGN_CHUNK_SIZE when set


@dataclass(frozen=True)
class Outcome:
    """What the campaign does with one contact: ``reason`` empty means it is sent."""

    contact_id: int
    reason: str
    language: str = ""
    segments: int = 0
    encoding: str = ""
    timezone: str = ""


@dataclass
class AudienceCounts:
    """Eligible recipients, the excluded by reason, and the segment cost (worst case per message)."""

    eligible: int = 0
    excluded: Counter = field(default_factory=Counter)
    segments_total: int = 0
    segments_max: int = 0
    encodings: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.eligible + sum(self.excluded.values())

    def add(self, outcome: Outcome) -> None:
        if outcome.reason:
            self.excluded[outcome.reason] += 1
            return
        self.eligible += 1
        self.segments_total += outcome.segments
        self.segments_max = max(self.segments_max, outcome.segments)
        if outcome.encoding:
            self.encodings[outcome.encoding] += 1

    def as_dict(self) -> dict:
        return {"eligible": self.eligible, "total": self.total,
                "excluded": {r: self.excluded.get(r, 0) for r in SkipReason.values},
                "segments_total": self.segments_total, "segments_max": self.segments_max,
                "encodings": dict(self.encodings)}


def organization_settings(organization) -> CampaignSettings:
    """The organisation's campaign settings, or the defaults (unsaved) when never changed."""
    found = CampaignSettings.objects.filter(organization=organization).first()
    return found or CampaignSettings(organization=organization)


class AudienceEvaluator:
    """Evaluates one campaign's audience chunk by chunk (see module docstring)."""

    def __init__(self, campaign: Campaign, *, actor, now: datetime.datetime,
                 chunk_size: int | None = None, template: CompiledMessageTemplate | None = None) -> None:
        self.campaign, self.actor, self.now = campaign, actor, now
        self.chunk_size = chunk_size or getattr(django_settings, "CAMPAIGN_CHUNK_SIZE", DEFAULT_CHUNK)
        organization = campaign.organization
        self.settings = organization_settings(organization)
        self.custom_labels = contacts_access.custom_field_keys(actor=actor)
        self.template = template or compile_message_template(
            campaign.template, default_language=self.settings.default_language,
            custom_keys=self.custom_labels)
        self.consent_column = contacts_access.CONSENT_COLUMN[campaign.channel.kind]
        # Per template, not per contact (the hot loop reads these for every patient).
        self.uses_names, self.uses_custom = self.template.uses_names, self.template.uses_custom
        self.conditions = list(campaign.conditions or [])
        self.organisation_name = organization.name
        self.organisation_tz = organization.timezone or "UTC"

    def _fields(self) -> list[str]:
        fields = ["phone", "language", "timezone", self.consent_column]
        if self.uses_names:
            fields += ["first_name", "last_name"]
        if self.uses_custom or self.conditions:
            fields.append("custom_values")
        return fields

    def _queryset(self):
        campaign = self.campaign
        source = campaign.audience_source
        # Tags deleted since the campaign was saved drop out (else "all of" could match nobody).
        tag_ids = (contacts_access.tag_ids_of_organization(campaign.tag_ids or [], actor=self.actor)
                   if source == AudienceSource.TAGS else [])
        if source == AudienceSource.TAGS and not tag_ids:
            # Every chosen tag was deleted (or none chosen): the audience is nobody. Without a tag
            # filter the base audience would be everyone — the opposite of what was chosen.
            return contacts_access.base_audience(tag_ids=[], tag_match=campaign.tag_match,
                                                 uploaded_campaign_id=None, actor=self.actor).none()
        return contacts_access.base_audience(
            tag_ids=tag_ids,
            tag_match=campaign.tag_match,
            uploaded_campaign_id=campaign.pk if source == AudienceSource.UPLOAD else None,
            actor=self.actor)

    def chunks(self, cursor: dict | None = None) -> Iterator[tuple[list[Outcome], dict]]:
        """(outcomes, cursor) per chunk; pass a yielded cursor back in to resume after it."""
        cursor = dict(cursor or {})
        after = tuple(cursor["after"]) if cursor.get("after") else None
        # The number being read: [phone_index, one of its contacts is in, it opted out, contacts seen].
        group = list(cursor.get("group") or ["", False, False, 0])
        since = (self.now - datetime.timedelta(days=self.campaign.exclude_messaged_days)
                 if self.campaign.exclude_messaged_days else None)
        exclude_tags = list(self.campaign.exclude_tag_ids or [])
        for contacts in contacts_access.contact_chunks(self._queryset(), fields=self._fields(), after=after,
                                                       chunk_size=self.chunk_size):
            last = contacts[-1]
            contacts = [c for c in contacts if self._matches_conditions(c)]
            ids = [c.pk for c in contacts]
            tagged = contacts_access.tagged_contact_ids(ids, exclude_tags, actor=self.actor)
            messaged = contacts_access.recently_messaged_ids(ids, since, actor=self.actor) if since else set()
            outcomes = [self._outcome(c, group, tagged, messaged) for c in contacts]
            yield outcomes, {"after": [last.phone_index, last.pk], "group": list(group)}

    def count(self) -> AudienceCounts:
        counts = AudienceCounts()
        for outcomes, _cursor in self.chunks():
            for outcome in outcomes:
                counts.add(outcome)
        return counts

    # --- per contact ----------------------------------------------------------------------
    def _matches_conditions(self, contact) -> bool:
        if not self.conditions:
            return True
        values = contact.custom_values or {}
        for condition in self.conditions:
            value = values.get(condition["key"])
            empty = value is None or (isinstance(value, str) and not value.strip())
            if condition["op"] == "is_empty":
                if not empty:
                    return False
            elif empty or _comparable(value) != _comparable(condition.get("value")):
                return False
        return True

    def _outcome(self, contact, group: list, tagged: set[int], messaged: set[int]) -> Outcome:
        if contact.phone_index != group[0]:
            group[:] = [contact.phone_index, False, False, 0]
        reason = self._reason_before_rendering(contact, group, tagged, messaged)
        group[3] += 1
        tz = contact.timezone or self.organisation_tz
        if reason:
            return Outcome(contact.pk, reason, timezone=tz)
        message = self.template.variant_for(contact.language).render(self.render_context(contact))
        if message.missing and self.template.skip_on_missing:
            return Outcome(contact.pk, SkipReason.MISSING_VALUE, message.language, timezone=tz)
        if group[1]:
            return Outcome(contact.pk, SkipReason.DUPLICATE, message.language, timezone=tz)
        group[1] = True
        return Outcome(contact.pk, "", message.language, message.segments, message.encoding, tz)

    def _reason_before_rendering(self, contact, group: list, tagged: set[int], messaged: set[int]) -> str:
        if not contact.phone_index or not contact.phone:
            return SkipReason.NO_NUMBER
        if not contacts_access.can_receive_texts(contact.phone):
            return SkipReason.INVALID_NUMBER
        consent = getattr(contact, self.consent_column)
        if consent is False:
            if group[3] == 0:
                # The oldest contact of a number is the one a STOP is recorded on: it speaks
                # for the number, so the number's later contacts are left out too.
                group[2] = True
            return SkipReason.OPTED_OUT
        if group[2]:
            return SkipReason.OPTED_OUT
        if self.campaign.kind == CampaignKind.OUTREACH and consent is not True:
            return SkipReason.NO_CONSENT
        if contact.pk in tagged:
            return SkipReason.EXCLUDED_TAG
        if contact.pk in messaged:
            return SkipReason.RECENTLY_MESSAGED
        return ""

    def unread_when_sending(self) -> tuple[str, ...]:
        """The encrypted contact fields this template never renders: a send chunk leaves them
        undecrypted (``render_context`` does not read them)."""
        return ((() if self.uses_names else ("first_name", "last_name"))
                + (() if self.uses_custom else ("custom_values",)))

    def render_context(self, contact) -> RenderContext:
        """What the template may read of ``contact``: only the fields it uses."""
        uses_names = self.uses_names
        return RenderContext(
            first_name=contact.first_name if uses_names else None,
            last_name=contact.last_name if uses_names else None,
            organisation=self.organisation_name,
            custom=(contact.custom_values or {}) if self.uses_custom else {},
        )

    def window(self) -> quiet_hours.Window:
        return self.campaign.window(self.settings.window)


def _comparable(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold() if value is not None else ""
