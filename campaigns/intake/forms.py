"""Forms of the questionnaire builder. They shape input; the services hold the rules."""

from __future__ import annotations

from django import forms

from campaigns.intake import patients
from campaigns.intake.models import Question, Questionnaire
from campaigns.intake.texts import LANGUAGES


class QuestionnaireForm(forms.ModelForm):
    language = forms.ChoiceField(
        choices=LANGUAGES, help_text="The bot's own words (hints, re-asks) follow it"
    )

    class Meta:
        model = Questionnaire
        fields = [
            "name",
            "language",
            "start_keywords",
            "intro",
            "completion_message",
            "reminder_message",
            "expiry_message",
            "reminder_after_minutes",
            "expire_after_minutes",
            "update_contact",
            "is_active",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 2})
            for name in ("intro", "completion_message", "reminder_message", "expiry_message")
        }
        help_texts = {
            "intro": "Sent with the first question. Blank: a friendly default.",
            "reminder_after_minutes": "Silence before one reminder (never sent in quiet hours)",
            "expire_after_minutes": "Silence before the questionnaire expires with the expiry message",
        }

    def clean(self):
        data = super().clean()
        reminder, expiry = data.get("reminder_after_minutes"), data.get("expire_after_minutes")
        if reminder and expiry and reminder >= expiry:
            self.add_error("expire_after_minutes", "Expiry must come after the reminder: make it longer.")
        return data


class QuestionForm(forms.ModelForm):
    choices_text = forms.CharField(
        label="Options (one per line)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For single and multiple choice questions",
    )
    contact_field = forms.ChoiceField(label="Save the answer into the patient's record", required=False)

    class Meta:
        model = Question
        fields = [
            "key",
            "kind",
            "prompt",
            "required",
            "reask_message",
            "max_length",
            "min_value",
            "max_value",
            "allow_future",
            "condition_key",
            "condition_value",
            "contact_field",
        ]
        widgets = {"prompt": forms.Textarea(attrs={"rows": 2})}
        labels = {
            "key": "Column name",
            "prompt": "Question",
            "required": "Required (patients cannot SKIP it)",
            "condition_key": "Ask only if the answer to (column name)",
            "condition_value": "…is (e.g. yes, or an option)",
        }

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_field"].choices = patients.contact_field_choices(actor=actor)
        if self.instance.pk:
            self.fields["choices_text"].initial = "\n".join(self.instance.choices or [])

    def service_values(self) -> dict:
        values = {k: v for k, v in self.cleaned_data.items() if k != "choices_text"}
        values["choices"] = [
            line.strip() for line in self.cleaned_data.get("choices_text", "").splitlines() if line.strip()
        ]
        values["max_length"] = values.get("max_length") or 500
        return values


class StartForm(forms.Form):
    questionnaire = forms.ModelChoiceField(queryset=Questionnaire.objects.none())
    channel = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, questionnaires, channels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["questionnaire"].queryset = questionnaires
        self.fields["channel"].queryset = channels


class PosterForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=None)
    number = forms.CharField(
        label="Number patients text (E.164)",
        max_length=20,
        required=False,
        help_text="Blank: the channel's address",
    )
    file_format = forms.ChoiceField(choices=[("png", "PNG image"), ("pdf", "PDF (print)")], initial="pdf")

    def __init__(self, *args, channels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = channels
