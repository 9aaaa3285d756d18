"""Forms of the accounts pages. Passwords go through Django's validators (12+ characters)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import password_validators_help_text_html, validate_password

from accounts.models import Organization, User
from accounts.roles import Role


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match an account. Check both and try again.",
        "inactive": "This account is switched off. Ask your clinic's administrator.",
    }

    # An explicit `request` parameter: the sign-in wizard passes it only to forms that name it,
    # and django-axes refuses to authenticate without it.
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "E-mail"
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autocomplete": "username", "autofocus": True})


class PasswordPairMixin:
    """Two password fields that must match and pass the validators for the (future) user."""

    def clean_password_pair(self, user: User) -> None:
        password = self.cleaned_data.get("password1")
        if password and password != self.cleaned_data.get("password2"):
            self.add_error("password2", "The two passwords differ. Type the same password twice.")
            return
        if password:
            try:
                validate_password(password, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)


def _password_fields():
    return (
        forms.CharField(label="Password", strip=False, help_text=password_validators_help_text_html(),
                        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})),
        forms.CharField(label="Password again", strip=False,
                        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})),
    )


class SignupForm(PasswordPairMixin, forms.Form):
    full_name = forms.CharField(label="Your name", max_length=150)
    email = forms.EmailField(label="Work e-mail", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    organization_name = forms.CharField(label="Clinic or organisation name", max_length=200)
    password1, password2 = _password_fields()

    def clean(self):
        data = super().clean()
        self.clean_password_pair(User(email=data.get("email", ""), full_name=data.get("full_name", "")))
        return data


class AcceptInvitationForm(PasswordPairMixin, forms.Form):
    full_name = forms.CharField(label="Your name", max_length=150)
    password1, password2 = _password_fields()

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        data = super().clean()
        self.clean_password_pair(User(email=self.email, full_name=data.get("full_name", "")))
        return data


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.STAFF)

    def __init__(self, *args, can_invite_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OrganizationSecurityForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "require_two_factor", "idle_timeout_minutes"]
        widgets = {"idle_timeout_minutes": forms.NumberInput(attrs={"min": 5, "max": 60})}
