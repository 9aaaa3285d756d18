"""Sign-in, sign-out and switching the active organisation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.middleware import SESSION_ORG_KEY
from accounts.models import Membership


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
@require_POST
def switch_organization(request):
    """Make another of the user's organisations the active one for this session."""
    try:
        org_id = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404("No such organisation.") from None
    membership = Membership.objects.filter(
        user=request.user, organization_id=org_id, organization__is_active=True
    ).select_related("organization").first()
    if membership is None:
        raise Http404("No such organisation.")
    request.session[SESSION_ORG_KEY] = membership.organization_id
    messages.success(request, f"You are now working in {membership.organization.name}.")
    return redirect("dashboard")
