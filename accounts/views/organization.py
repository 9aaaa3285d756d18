"""Switching the active organisation, and the organisation's security settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import OrganizationSecurityForm
from accounts.middleware import SESSION_ORG_KEY
from accounts.models import Membership
from accounts.roles import Perm, require


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


@login_required
def organization_settings(request):
    """Name, two-factor for everyone, idle sign-out: owners and admins."""
    require(request.membership, Perm.ORG_SETTINGS_MANAGE)
    organization = request.organization
    form = OrganizationSecurityForm(request.POST or None, instance=_copy(organization))
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.update_organization_settings(
                organization=organization, actor=request.actor,
                **{field: form.cleaned_data[field] for field in form.Meta.fields})
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Settings saved." if changed else "Nothing changed.")
            return redirect("organization_settings")
    return render(request, "accounts/organization_settings.html", {"form": form},
                  status=400 if form.errors else 200)


def _copy(organization):
    # The form edits a copy: the service, not the form, writes the organisation.
    from copy import copy

    return copy(organization)

