"""Accepting an invitation: attach a signed-in user, or create the account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.email_address import canonical_email
from accounts.forms import AcceptInvitationForm
from accounts.invitations import InvitationUnusable, accept_invitation, invitation_for_token
from accounts.middleware import SESSION_ORG_KEY
from accounts.models import User
from accounts.views.auth import MODEL_BACKEND


@never_cache
def accept(request, token: str):
    try:
        invitation = invitation_for_token(token)
    except InvitationUnusable as error:
        return render(request, "accounts/invitation_unusable.html", {"reason": str(error)}, status=410)
    user = request.user if request.user.is_authenticated else None
    has_account = user is None and User.objects.filter(email=canonical_email(invitation.email)).exists()
    form = AcceptInvitationForm(request.POST or None, email=invitation.email) if user is None else None
    if request.method == "POST" and not has_account and (form is None or form.is_valid()):
        try:
            user, membership = accept_invitation(
                token=token, user=user,
                full_name=form.cleaned_data["full_name"] if form else "",
                password=form.cleaned_data["password1"] if form else "")
        except InvitationUnusable as error:
            return render(request, "accounts/invitation_unusable.html", {"reason": str(error)}, status=410)
        except ValidationError as error:
            form.add_error("password1", error)
        else:
            if not request.user.is_authenticated:
                login(request, user, backend=MODEL_BACKEND)
            request.session[SESSION_ORG_KEY] = membership.organization_id
            messages.success(request, f"Welcome to {membership.organization.name}.")
            return redirect("dashboard")
    return render(request, "accounts/invitation_accept.html", {
        "invitation": invitation, "form": form, "has_account": has_account,
        "wrong_user": user is not None and canonical_email(user.email) != canonical_email(invitation.email),
    }, status=400 if form is not None and form.errors else 200)
