"""Forgotten password: ask for a link, then choose a new password through it.

The request page answers the same for every address (no account enumeration); the link
page follows Django's pattern of moving the token into the session and out of the URL.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import password_reset, ratelimit
from accounts.tokens import password_reset_tokens


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(label="E-mail", widget=forms.EmailInput(
        attrs={"autocomplete": "email", "autofocus": True}))


@never_cache
def request_reset(request):
    """Ask for a reset link. Every address gets the same answer; too many requests get a wait time."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset.request_password_reset(email=form.cleaned_data["email"],
                                                  ip=ratelimit.client_ip(request))
        except ratelimit.RateLimited as error:
            form.add_error(None, str(error))
            return render(request, "accounts/password_reset_request.html", {"form": form}, status=429)
        return redirect("password_reset_done")
    return render(request, "accounts/password_reset_request.html", {"form": form},
                  status=400 if form.errors else 200)


@never_cache
def reset_requested(request):
    return render(request, "accounts/password_reset_done.html")


class ResetPasswordForm(SetPasswordForm):
    """Django's set-password form (its validators enforce the 12-character policy), labelled for us."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "New password"
        self.fields["new_password2"].label = "New password again"

    def save(self, commit=True):  # the service writes the password (audited, sessions revoked)
        raise NotImplementedError("use accounts.password_reset.complete_password_reset")


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link from the e-mail: checks it, then sets the new password through the service."""

    template_name = "accounts/password_reset_confirm.html"
    token_generator = password_reset_tokens
    form_class = ResetPasswordForm
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = False  # a reset never signs in: the next sign-in asks for the second factor

    @classmethod
    def as_view(cls, **initkwargs):
        return sensitive_post_parameters("new_password1", "new_password2")(super().as_view(**initkwargs))

    def form_valid(self, form):
        token = self.request.session.get(auth_views.INTERNAL_RESET_SESSION_TOKEN, "")
        try:
            password_reset.complete_password_reset(
                user=self.user, token=token, password=form.cleaned_data["new_password1"])
        except password_reset.ResetLinkInvalid as error:
            return render(self.request, "accounts/password_reset_confirm.html",
                          {"validlink": False, "reason": str(error)}, status=400)
        except ValidationError as error:
            form.add_error("new_password2", error)
            return self.form_invalid(form)
        self.request.session.pop(auth_views.INTERNAL_RESET_SESSION_TOKEN, None)
        return redirect(self.success_url)

    def render_to_response(self, context, **response_kwargs):
        if not context.get("validlink"):
            response_kwargs.setdefault("status", 400)
        return super().render_to_response(context, **response_kwargs)


@never_cache
def reset_complete(request):
    return render(request, "accounts/password_reset_complete.html")
