"""Forms of the messaging UI: replies, templates, assignment, simulator, channel set-up.

Forms only validate input; the writes happen in messaging.services.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError

from accounts.models import Organization, User
from accounts.roles import Perm, Role, role_has
from messaging.models import CannedResponse, Channel, MessagingSettings, WhatsAppTemplate
from messaging.providers import InvalidValue, keys_playing_patient_in_browser
from messaging.services.channels import clean_kind_and_address, declaration_for
from messaging.services.unknown_sends import Settlement

BODY_MAX_LENGTH = 1600  # 10 concatenated GSM-7 segments: what carriers reliably deliver


def normalise_newlines(text: str) -> str:
    """Browsers submit a textarea's line breaks as CRLF; an SMS line break is one LF.

    The live counter (segment-counter.js) counts what the textarea holds (LF), so this keeps
    what is sent, billed and counted the same.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n")


class ReplyForm(forms.Form):
    body = forms.CharField(
        max_length=BODY_MAX_LENGTH, strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a reply…"}),
        error_messages={"required": "Type a message before sending."},
    )

    def clean_body(self) -> str:
        return normalise_newlines(self.cleaned_data["body"])


class TemplateSendForm(forms.Form):
    """Pick one of the channel's approved WhatsApp templates and fill its parameters."""

    template = forms.ModelChoiceField(
        queryset=WhatsAppTemplate.objects.none(), empty_label=None,
        error_messages={"invalid_choice": "Choose one of the approved templates."})

    MAX_PARAMETERS = 10

    def __init__(self, *args: Any, channel: Channel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this channel's templates: an id from another channel (or org) is not a choice.
        self.fields["template"].queryset = WhatsAppTemplate.objects.filter(channel=channel, is_active=True)
        for index in range(1, self.MAX_PARAMETERS + 1):
            self.fields[f"param_{index}"] = forms.CharField(required=False, max_length=500,
                                                            label=f"{{{{{index}}}}}")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        template = cleaned.get("template")
        if template is not None:
            count = template.parameter_count
            values = [(cleaned.get(f"param_{i}") or "").strip() for i in range(1, count + 1)]
            if any(not value for value in values):
                raise ValidationError(f"“{template.name}” needs {count} value(s): fill them all.")
            cleaned["parameters"] = values
        return cleaned


def assignable_members(organization: Organization):
    """Members of the organisation who may answer patients (viewers cannot)."""
    roles = [role for role in Role.values if role_has(role, Perm.MESSAGES_SEND)]
    return User.objects.filter(memberships__organization=organization, memberships__role__in=roles,
                               is_active=True).order_by("full_name", "email")


class SettleUnknownForm(forms.Form):
    """Staff's answer for an interrupted send they looked up in the provider's log."""

    settlement = forms.ChoiceField(choices=Settlement.choices)
    provider_message_id = forms.CharField(max_length=128, required=False, strip=True,
                                          label="Provider message id (optional)")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Nobody",
        error_messages={"invalid_choice": "Choose a member of your organisation."})

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_members(organization)
        self.fields["assignee"].label_from_instance = lambda user: user.display_name


class SimulatorSelectForm(forms.Form):
    """Which channel and which patient phone the simulator plays (kept in the session, not the URL)."""

    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), empty_label=None)
    phone = forms.CharField(max_length=32, label="Patient phone number",
                            widget=forms.TextInput(attrs={"placeholder": "+14155550101",
                                                          "autocomplete": "off"}))

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["channel"].queryset = Channel.objects.filter(
            provider__in=keys_playing_patient_in_browser(), is_active=True)

    def clean_phone(self) -> str:
        raw = self.cleaned_data["phone"].strip()
        try:
            parsed = phonenumbers.parse(raw, self.organization.default_region)
        except phonenumbers.NumberParseException:
            raise ValidationError("Enter the number in international format, e.g. +14155550101.") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValidationError("That is not a possible phone number; use international format, +1….")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SimulatorSendForm(forms.Form):
    body = forms.CharField(max_length=BODY_MAX_LENGTH, strip=True,
                           widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Text message"}),
                           error_messages={"required": "Type the patient's message first."})

    def clean_body(self) -> str:
        return normalise_newlines(self.cleaned_data["body"])


class SimulatorStatusForm(forms.Form):
    """A delivery receipt the "carrier" sends for one of CareRelay's messages to the phone."""

    STATUSES = [("delivered", "Delivered"), ("read", "Read"), ("undelivered", "Undelivered"),
                ("failed", "Failed")]
    message = forms.IntegerField(min_value=1)
    status = forms.ChoiceField(choices=STATUSES)


class ChannelForm(forms.ModelForm):
    """A channel of one provider, built from what the provider declares.

    The kind is a choice only when the provider serves several (Twilio: SMS/MMS or WhatsApp
    through Twilio); the address label, help and rule come from the chosen kind; the credential
    fields, their help and their rules from the provider. Secret credentials are PasswordInputs
    that never render a value: blank keeps what is stored.
    """

    class Meta:
        model = Channel
        fields = ["name", "kind", "address", "rate_limit_per_second", "is_active", "is_default"]
        labels = {"rate_limit_per_second": "Rate limit (messages per second)",
                  "is_active": "Active", "is_default": "Default channel (replies and sign-in codes)"}
        help_texts = {"rate_limit_per_second": "Your provider's limit for this sender; "
                                               "US long codes allow 1, toll-free and short codes more.",
                      "is_default": ""}

    def __init__(self, *args: Any, provider: str, stored_secrets: set[str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.declaration = declaration_for(provider)
        kinds = self.declaration.kinds
        if len(kinds) > 1:
            current = self.instance.kind if self.instance.pk else kinds[0].kind
            self.fields["kind"] = forms.ChoiceField(
                label="Kind of channel", choices=[(option.kind, option.label) for option in kinds],
                initial=current, widget=forms.RadioSelect, required=False,  # blank: the first kind
                error_messages={"invalid_choice": "Choose one of the kinds this provider offers."})
        else:
            del self.fields["kind"]  # the provider serves one kind: nothing to choose
        # Label and help of the channel's kind (the first for a new one); the rule of the kind
        # finally chosen is the one clean() applies.
        rule = self.declaration.kind_option(self.instance.kind if self.instance.pk else None).address
        self.fields["address"].label = rule.label
        helps = dict.fromkeys(option.address.help_text for option in kinds)
        self.fields["address"].help_text = rule.help_text if len(helps) == 1 else " ".join(
            f"{option.label}: {option.address.help_text}." for option in kinds)
        if rule.placeholder:
            self.fields["address"].widget.attrs["placeholder"] = rule.placeholder
        self.fields["rate_limit_per_second"].min_value = 1
        self.fields["rate_limit_per_second"].widget.attrs["min"] = 1
        stored_secrets = stored_secrets or set()
        self.credential_names: list[str] = []
        for field in self.declaration.credentials:
            name = f"cred_{field.key}"
            self.credential_names.append(name)
            if field.secret:
                stored = field.key in stored_secrets
                self.fields[name] = forms.CharField(
                    label=field.label, required=field.required and not stored, strip=True,
                    # render_value=False: a stored secret never travels back to the browser.
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text=("Stored. Leave blank to keep it, or type a new one to replace it."
                               if stored else field.help_text),
                )
            else:
                initial = (self.instance.credentials or {}).get(field.key, "") if self.instance.pk else ""
                self.fields[name] = forms.CharField(label=field.label, required=field.required, strip=True,
                                                    initial=initial, help_text=field.help_text)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "address" in cleaned:
            kind = cleaned.get("kind") if "kind" in self.fields else None
            try:
                chosen, cleaned["address"] = clean_kind_and_address(self.provider, kind, cleaned["address"])
                if "kind" in self.fields:  # else the service gives the provider's only kind
                    cleaned["kind"] = chosen
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else "address", errors)
        for field in self.declaration.credentials:
            name = f"cred_{field.key}"
            if cleaned.get(name):
                try:
                    cleaned[name] = field.clean(cleaned[name])
                except InvalidValue as exc:
                    self.add_error(name, str(exc))
        return cleaned

    def channel_values(self) -> dict[str, Any]:
        """The non-secret settings for messaging.services.channels."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}

    def credential_values(self) -> dict[str, str]:
        """The submitted credentials keyed as the provider declares them (blank secrets are kept)."""
        return {name.removeprefix("cred_"): self.cleaned_data.get(name, "") for name in self.credential_names}


class ChannelTestMessageForm(forms.Form):
    to_phone = forms.CharField(max_length=32, label="Send a test message to",
                               widget=forms.TextInput(attrs={"placeholder": "+14155550100",
                                                             "autocomplete": "off"}))

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_to_phone(self) -> str:
        raw = self.cleaned_data["to_phone"].strip()
        try:
            parsed = phonenumbers.parse(raw, self.organization.default_region)
        except phonenumbers.NumberParseException:
            raise ValidationError("Enter the number in international format, e.g. +14155550100.") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValidationError("That is not a possible phone number.")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class MessagingSettingsForm(forms.ModelForm):
    class Meta:
        model = MessagingSettings
        fields = ["help_reply", "stop_reply", "start_reply"]
        labels = {"help_reply": "Reply to HELP", "stop_reply": "Reply to STOP (opt-out confirmation)",
                  "start_reply": "Reply to START (opted back in)"}
        help_texts = {"help_reply": "{org} is replaced with your organisation's name.",
                      "stop_reply": "Carriers require a confirmation; it is the last message sent.",
                      "start_reply": ""}
        widgets = {name: forms.Textarea(attrs={"rows": 2}) for name in fields}


class CannedResponseForm(forms.ModelForm):
    class Meta:
        model = CannedResponse
        fields = ["title", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 3})}
