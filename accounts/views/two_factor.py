"""Two-factor pages: django-two-factor-auth's views with CareRelay's rules and audit events.

- set-up offers an authenticator app (QR code drawn by our server), and SMS/WhatsApp codes
  when the messaging layer has registered a sender;
- people who must have 2FA (owners, admins, everyone where the organisation requires it)
  cannot switch it off.
"""

from __future__ import annotations

import django_otp
from django.contrib import messages
from django.shortcuts import redirect
from django_otp import devices_for_user
from two_factor import views as tf_views
from two_factor.forms import DeviceValidationForm, MethodForm

from accounts.security import device_method, two_factor_added, two_factor_removed, two_factor_required
from accounts.two_factor_methods import WHATSAPP_CODE, offered_methods

METHOD_LABELS = {
    "generator": "Authenticator app (recommended)",
    "sms": "Text message (SMS)",
    WHATSAPP_CODE: "WhatsApp message",
}


class OfferedMethodForm(MethodForm):
    """The method choice, limited to what can actually deliver codes right now."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields["method"].choices = [(m.code, METHOD_LABELS.get(m.code, m.verbose_name))
                                         for m in offered_methods()]
        self.fields["method"].initial = self.fields["method"].choices[0][0]


class SetupView(tf_views.SetupView):
    # No separate welcome step: the page itself says why, so set-up takes one screen less.
    form_list = (("method", OfferedMethodForm),)

    def get_available_methods(self):
        return offered_methods()

    def get_form_list(self):
        form_list = super().get_form_list()
        if WHATSAPP_CODE in form_list:
            form_list["validation"] = DeviceValidationForm
        return form_list

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        context["two_factor_required"] = two_factor_required(self.request.user)
        return context

    def done(self, form_list, **kwargs):
        if self.get_method().code == WHATSAPP_CODE:
            # The library's done() knows the phone methods it ships; WhatsApp is saved the same way.
            self.request.session.pop(self.session_key_name, None)
            device = self.get_device()
            device.confirmed = True
            device.save()
            django_otp.login(self.request, device)
            response = redirect(self.get_success_url())
        else:
            response = super().done(form_list, **kwargs)
        device = getattr(self.request.user, "otp_device", None)
        if device is not None:
            two_factor_added(self.request.user, device)
        return response


class SetupCompleteView(tf_views.SetupCompleteView):
    pass


class QRGeneratorView(tf_views.QRGeneratorView):
    def get_issuer(self):
        return "CareRelay"


class BackupTokensView(tf_views.BackupTokensView):
    """Backup codes are stored hashed (accounts.secret_fields): they are shown once, in the answer
    to the request that made them, and never again (nothing else could show them)."""

    def form_valid(self, form):
        from django_otp.plugins.otp_static.models import StaticToken

        device = self.get_device()
        device.token_set.all().delete()
        fresh = [StaticToken.random_token() for _ in range(self.number_of_tokens)]
        for code in fresh:
            device.token_set.create(token=code)
        two_factor_added(self.request.user, device)
        messages.success(self.request, "New backup codes are ready. Earlier codes no longer work.")
        return self.render_to_response(self.get_context_data(form=form, fresh_codes=fresh))


class ProfileView(tf_views.ProfileView):
    """The account security page: second factors, backup codes, password, sessions."""

    template_name = "two_factor/profile/profile.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["two_factor_required"] = two_factor_required(self.request.user)
        return context


class DisableView(tf_views.DisableView):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and two_factor_required(request.user):
            messages.error(request, "Your role requires two-factor authentication, so it stays on. "
                                    "Lost your phone? Sign in with a backup code, or ask an owner for help.")
            return redirect("two_factor:profile")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        user = self.request.user
        for device in devices_for_user(user, confirmed=None):
            method = device_method(device)
            device.delete()
            two_factor_removed(user, method)
        messages.success(self.request, "Two-factor authentication is off for your account.")
        return redirect("two_factor:profile")
