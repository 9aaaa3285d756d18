"""Forms of the campaigns UI. They only read and shape input; services validate and write."""

from __future__ import annotations

import datetime
import zoneinfo

from django import forms

from campaigns.models import AudienceSource, Campaign, CampaignKind, MessageTemplate, Questionnaire
from campaigns.services.campaigns import CONDITION_OPS
from messaging.models import Channel, WhatsAppTemplate

CONDITION_ROWS = 2
QUESTIONNAIRE_HELP = ("Optional, SMS channels: each patient's message is followed by the questionnaire's "
                      "first question, and their answers are collected as usual.")


class QuestionnaireChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Questionnaire) -> str:
        return obj.name  # its __str__ is only the id


def questionnaire_field() -> forms.ModelChoiceField:
    return QuestionnaireChoiceField(queryset=Questionnaire.objects.none(), required=False,
                                    empty_label="— none —", label="Then start a questionnaire",
                                    help_text=QUESTIONNAIRE_HELP)


def startable_questionnaires():
    """The choices: the organisation's questionnaires that are switched on (the service checks the rest)."""
    return Questionnaire.objects.filter(is_active=True, deleted_at__isnull=True)


def normalise_newlines(text: str) -> str:
    """Browsers send CRLF; a text message line break is one LF (what is counted and billed)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class CampaignCreateForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=CampaignKind.choices, widget=forms.RadioSelect,
                             help_text="Care: reminders, results, follow-ups — sent unless the patient "
                                       "opted out. Outreach: marketing-like — only patients who opted in. "
                                       "Fixed once created.")
    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), empty_label=None)
    template = forms.ModelChoiceField(queryset=MessageTemplate.objects.none(), empty_label=None,
                                      help_text="Write templates under Campaigns → Templates.")
    questionnaire = questionnaire_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(is_active=True)
        self.fields["template"].queryset = MessageTemplate.objects.all()
        self.fields["questionnaire"].queryset = startable_questionnaires()


class CampaignEditForm(forms.Form):
    """Everything but the kind: channel, template, audience, schedule and sending window."""

    name = forms.CharField(max_length=120)
    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), empty_label=None)
    template = forms.ModelChoiceField(queryset=MessageTemplate.objects.none(), empty_label=None)
    questionnaire = questionnaire_field()
    audience_source = forms.ChoiceField(label="Who receives it", choices=AudienceSource.choices,
                                        widget=forms.RadioSelect)
    tags = forms.MultipleChoiceField(required=False, help_text="For “Patients with tags”.")
    tag_match = forms.ChoiceField(choices=Campaign.TagMatch.choices, label="Tag match")
    exclude_tags = forms.MultipleChoiceField(required=False, label="Leave out patients tagged")
    exclude_messaged_days = forms.IntegerField(required=False, min_value=1, max_value=365,
                                               label="Leave out patients messaged in the last … days")
    send_at = forms.DateTimeField(required=False, label="Send at (organisation time)",
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                  input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                  help_text="Leave empty to send when you press “Send now”.")
    send_window_start = forms.TimeField(required=False, label="Sending window opens",
                                        widget=forms.TimeInput(attrs={"type": "time"}),
                                        help_text="Empty: the organisation's window. "
                                                  "In each patient's time zone.")
    send_window_end = forms.TimeField(required=False, label="Sending window closes",
                                      widget=forms.TimeInput(attrs={"type": "time"}))

    def __init__(self, *args, organization, custom_fields: dict[str, str], tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["channel"].queryset = Channel.objects.all()
        self.fields["template"].queryset = MessageTemplate.objects.all()
        self.fields["questionnaire"].queryset = startable_questionnaires()
        tag_choices = [(str(t.pk), t.name) for t in tags]
        self.fields["tags"].choices = self.fields["exclude_tags"].choices = tag_choices
        key_choices = [("", "—"), *sorted(custom_fields.items(), key=lambda kv: kv[1].lower())]
        for n in range(1, CONDITION_ROWS + 1):
            self.fields[f"condition_key_{n}"] = forms.ChoiceField(
                required=False, choices=key_choices, label=f"Condition {n}: custom field")
            self.fields[f"condition_op_{n}"] = forms.ChoiceField(
                required=False, choices=[(op, op.replace("_", " ")) for op in CONDITION_OPS], label="is")
            self.fields[f"condition_value_{n}"] = forms.CharField(required=False, max_length=200,
                                                                  label="value")

    @classmethod
    def initial_for(cls, campaign: Campaign) -> dict:
        tz = zoneinfo.ZoneInfo(campaign.organization.timezone or "UTC")
        initial = {
            "name": campaign.name, "channel": campaign.channel_id, "template": campaign.template_id,
            "questionnaire": campaign.questionnaire_id, "audience_source": campaign.audience_source,
            "tags": [str(t) for t in campaign.tag_ids],
            "tag_match": campaign.tag_match, "exclude_tags": [str(t) for t in campaign.exclude_tag_ids],
            "exclude_messaged_days": campaign.exclude_messaged_days,
            "send_at": (campaign.send_at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
                        if campaign.send_at else None),
            "send_window_start": campaign.send_window_start, "send_window_end": campaign.send_window_end,
        }
        for n, condition in enumerate(campaign.conditions or [], start=1):
            initial.update({f"condition_key_{n}": condition["key"], f"condition_op_{n}": condition["op"],
                            f"condition_value_{n}": condition.get("value", "")})
        return initial

    def clean_send_at(self):
        naive = self.cleaned_data.get("send_at")
        if naive is None:
            return None
        naive = naive.replace(tzinfo=None)
        tz = zoneinfo.ZoneInfo(self.organization.timezone or "UTC")
        aware = naive.replace(tzinfo=tz)
        if aware.astimezone(datetime.UTC).astimezone(tz).replace(tzinfo=None) != naive:
            raise forms.ValidationError(
                f"That time does not exist in {tz.key} (the clocks skip it): pick another time.")
        return aware

    def service_values(self) -> dict:
        data = self.cleaned_data
        conditions = []
        for n in range(1, CONDITION_ROWS + 1):
            key = data.get(f"condition_key_{n}")
            if key:
                conditions.append({"key": key, "op": data.get(f"condition_op_{n}") or "equals",
                                   "value": data.get(f"condition_value_{n}", "")})
        return {
            "name": data["name"], "channel": data["channel"], "template": data["template"],
            "questionnaire": data["questionnaire"], "audience_source": data["audience_source"],
            "tag_ids": [int(t) for t in data["tags"]],
            "tag_match": data["tag_match"], "exclude_tag_ids": [int(t) for t in data["exclude_tags"]],
            "exclude_messaged_days": data["exclude_messaged_days"], "conditions": conditions,
            "send_at": data["send_at"], "send_window_start": data["send_window_start"],
            "send_window_end": data["send_window_end"],
        }


class AudienceUploadForm(forms.Form):
    numbers = forms.FileField(label="Phone numbers (CSV or text, one per line)",
                              help_text="Only the numbers' fingerprints are kept, never the file.")

    MAX_BYTES = 20 * 1024 * 1024

    def clean_numbers(self):
        upload = self.cleaned_data["numbers"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is over 20 MB: split it into smaller lists.")
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        return text.splitlines()


class PreviewForm(forms.Form):
    contact = forms.CharField(max_length=200, label="Preview for a patient",
                              help_text="Their contact number (#12), phone, e-mail or name.")


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=100)
    on_missing = forms.ChoiceField(choices=MessageTemplate.OnMissing.choices, widget=forms.RadioSelect,
                                   label="When a placeholder without fallback has no value")


class VariantForm(forms.Form):
    language = forms.CharField(max_length=16, help_text="e.g. en, es, fr-ca")
    body = forms.CharField(required=False, max_length=1600, strip=False,
                           widget=forms.Textarea(attrs={"rows": 5, "data-template-body": ""}),
                           help_text='Placeholders: {{ first_name }}, {{ last_name }}, {{ organisation }}, '
                                     '{{ custom.<key> }}; a fallback: {{ first_name | "there" }}.')
    whatsapp_template = forms.ModelChoiceField(queryset=WhatsAppTemplate.objects.none(), required=False,
                                               label="Approved WhatsApp template (WhatsApp channels)")
    whatsapp_parameters = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        label="WhatsApp parameters, one per line ({{1}}, {{2}}, …)",
        help_text='A field for each, e.g. first_name | "there"')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["whatsapp_template"].queryset = WhatsAppTemplate.objects.filter(is_active=True)

    def clean_body(self) -> str:
        return normalise_newlines(self.cleaned_data["body"])

    def parameters(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("whatsapp_parameters", "").splitlines()
                if line.strip()]


class CampaignSettingsForm(forms.Form):
    default_language = forms.CharField(max_length=16, help_text="For patients with no language, e.g. en")
    send_window_start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}),
                                        label="Sending window opens")
    send_window_end = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}),
                                      label="Sending window closes",
                                      help_text="Evaluated in each patient's own time zone.")
