"""Forms for the contacts UI. Custom fields are added per organisation at run time."""

from __future__ import annotations

from django import forms

from accounts import validators
from contacts.models import Channel, CustomField
from contacts.normaliser import ContactNormaliser

_INPUT = {"class": "form-control"}


class ContactForm(forms.Form):
    """The contact form. Each field is checked by the same rules as the services
    (contacts.normaliser → accounts.validators), so what the form accepts the service stores."""

    first_name = forms.CharField(max_length=validators.NAME_MAX, required=False,
                                 widget=forms.TextInput(_INPUT))
    last_name = forms.CharField(max_length=validators.NAME_MAX, required=False,
                                widget=forms.TextInput(_INPUT))
    phone = forms.CharField(max_length=validators.PHONE_INPUT_MAX, widget=forms.TextInput(_INPUT),
                            help_text="Any format; numbers from other countries need their +code.")
    email = forms.CharField(max_length=validators.EMAIL_MAX, required=False,
                            widget=forms.EmailInput(_INPUT))
    date_of_birth = forms.DateField(required=False, widget=forms.DateInput({**_INPUT, "type": "date"}))
    preferred_channel = forms.ChoiceField(choices=Channel.choices,
                                          widget=forms.Select({"class": "form-select"}))
    language = forms.CharField(max_length=validators.LANGUAGE_MAX, required=False,
                               widget=forms.TextInput(_INPUT), help_text="e.g. en, es or fr-CA.")
    timezone = forms.CharField(max_length=validators.TIMEZONE_MAX, required=False,
                               widget=forms.TextInput(_INPUT),
                               help_text="Leave blank to derive it from the phone number.")

    def __init__(self, *args, custom_fields: list[CustomField] = (), region: str = "US", **kwargs):
        super().__init__(*args, **kwargs)
        self.normaliser = ContactNormaliser(region=region)
        self.custom_fields = list(custom_fields)
        for field in self.custom_fields:
            name = f"custom_{field.key}"
            if field.field_type == CustomField.Type.CHOICE:
                self.fields[name] = forms.ChoiceField(
                    label=field.label, required=False, choices=[("", "—")] + [(c, c) for c in field.choices],
                    widget=forms.Select({"class": "form-select"}))
            elif field.field_type == CustomField.Type.DATE:
                self.fields[name] = forms.DateField(label=field.label, required=False,
                                                    widget=forms.DateInput({**_INPUT, "type": "date"}))
            elif field.field_type == CustomField.Type.NUMBER:
                self.fields[name] = forms.DecimalField(label=field.label, required=False,
                                                       widget=forms.NumberInput({**_INPUT, "step": "any"}))
            else:
                self.fields[name] = forms.CharField(label=field.label, required=False, max_length=1000,
                                                    widget=forms.TextInput(_INPUT))

    def _check(self, name: str):
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return value
        return self.normaliser.field(name)(value)  # InvalidValue is a ValidationError: shown on the field

    def clean_phone(self):
        return self._check("phone")

    def clean_email(self):
        return self._check("email")

    def clean_date_of_birth(self):
        return self._check("date_of_birth")

    def clean_language(self):
        return self._check("language")

    def clean_timezone(self):
        return self._check("timezone")

    def contact_values(self) -> dict:
        data = self.cleaned_data
        return {k: data.get(k) for k in ("first_name", "last_name", "phone", "email", "date_of_birth",
                                         "preferred_channel", "language", "timezone")}

    def custom_values(self) -> dict:
        values = {}
        for field in self.custom_fields:
            value = self.cleaned_data.get(f"custom_{field.key}")
            if value not in (None, ""):
                values[field.key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return values


class CustomFieldForm(forms.ModelForm):
    choices_text = forms.CharField(required=False, label="Choices (one per line, for choice fields)",
                                   widget=forms.Textarea({**_INPUT, "rows": 3}))

    class Meta:
        model = CustomField
        fields = ("label", "field_type")
        widgets = {"label": forms.TextInput(_INPUT), "field_type": forms.Select({"class": "form-select"})}
