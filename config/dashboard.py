"""The signed-in home page. It lives in config because it shows every app's figures."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.models import Membership
from contacts.selectors import contact_count


@login_required
def dashboard(request):
    if request.organization is None:
        return render(request, "accounts/no_organization.html", status=403)
    memberships = Membership.objects.filter(
        user=request.user, organization__is_active=True
    ).select_related("organization")
    return render(request, "accounts/dashboard.html", {
        "memberships": memberships,
        "contact_count": contact_count(actor=request.actor) if request.actor else 0,
    })
