"""A person's own account: password change and "sign out everywhere"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts import security


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("two_factor:profile")

    def form_valid(self, form):
        form.save()
        security.password_changed(self.request, form.user)
        messages.success(self.request, "Password changed. Your other sessions were signed out.")
        return redirect(self.success_url)


@login_required
@require_POST
def sign_out_everywhere(request):
    security.revoke_all_sessions(request)
    messages.success(request, "You were signed out on every device, this one included.")
    return redirect("login")
