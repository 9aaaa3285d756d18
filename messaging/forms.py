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
from messaging.services.channels import ADDRESS_LABELS, credential_fields

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
        self.fields["channel"].queryset = Channel.objects.filter(provider=Channel.Provider.SIMULATOR,
                                                                 is_active=True)

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
    """A channel of one provider: common settings plus that provider's credentials.

    Secret credentials are PasswordInputs that never render a value: blank keeps what is stored.
    """

    whatsapp_via_twilio = forms.BooleanField(
        required=False, label="This is a WhatsApp sender (WhatsApp through Twilio)")

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
        label, help_text = ADDRESS_LABELS[provider]
        self.fields["address"].label, self.fields["address"].help_text = label, help_text
        self.fields["rate_limit_per_second"].min_value = 1
        self.fields["rate_limit_per_second"].widget.attrs["min"] = 1
        if provider != Channel.Provider.SIMULATOR:
            # The kind follows the provider (Twilio: the WhatsApp flag; Meta: always WhatsApp).
            del self.fields["kind"]
        if provider != Channel.Provider.TWILIO:
            del self.fields["whatsapp_via_twilio"]
        elif self.instance.pk:
            self.fields["whatsapp_via_twilio"].initial = self.instance.kind == Channel.Kind.WHATSAPP
        stored_secrets = stored_secrets or set()
        self.credential_names: list[str] = []
        for field in credential_fields(provider):
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

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip()
        if self.provider == Channel.Provider.WHATSAPP_CLOUD:
            if not address.isdigit():
                raise ValidationError("The phone-number ID is the numeric id from WhatsApp Manager.")
            return address
        if self.provider == Channel.Provider.TWILIO and address.startswith("MG"):
            return address  # a Messaging Service picks the sender itself
        try:
            parsed = phonenumbers.parse(address, None)
        except phonenumbers.NumberParseException:
            raise ValidationError("Enter the number in international format, e.g. +14155550100.") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValidationError("That is not a possible phone number.")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    def channel_values(self) -> dict[str, Any]:
        """The non-secret settings for messaging.services.channels."""
        values = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}
        if self.provider == Channel.Provider.TWILIO:
            values["kind"] = (Channel.Kind.WHATSAPP if self.cleaned_data.get("whatsapp_via_twilio")
                              else Channel.Kind.SMS)
        return values

    def credential_values(self) -> dict[str, str]:
        """The submitted credentials keyed as the provider expects (blank secrets are kept)."""
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
