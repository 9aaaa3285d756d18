"""The members page: list, change role, remove, unlock, invite and withdraw invitations.

Every action calls a service that checks the role itself; the page only hides buttons.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import invitations, services
from accounts.forms import InviteForm, RoleForm
from accounts.roles import Perm, Role, require
from accounts.selectors import members_page


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _page(request, invite_form=None, status=200):
    require(request.membership, Perm.MEMBERS_MANAGE)
    is_owner = request.membership.role == Role.OWNER
    page, rows = members_page(request.organization, request.GET.get("page"))
    return render(request, "accounts/members.html", {
        "members": rows,
        "page_obj": page,
        "invitations": invitations.pending_invitations(request.organization),
        "invite_form": invite_form or InviteForm(can_invite_owner=is_owner),
        "roles": Role.choices if is_owner else [c for c in Role.choices if c[0] != Role.OWNER],
        "is_owner": is_owner,
    }, status=status)


@login_required
def members(request):
    return _page(request)


@login_required
@require_POST
def invite(request):
    require(request.membership, Perm.MEMBERS_MANAGE)
    form = InviteForm(request.POST, can_invite_owner=request.membership.role == Role.OWNER)
    if not form.is_valid():
        return _page(request, invite_form=form, status=400)
    try:
        invitations.send_invitation(organization=request.organization, actor=request.actor,
                                    email=form.cleaned_data["email"], role=form.cleaned_data["role"])
    except ValidationError as error:
        form.add_error("email", error)
        return _page(request, invite_form=form, status=400)
    messages.success(request, "Invitation sent. The link works once, for 72 hours.")
    return redirect("members")


@login_required
@require_POST
def revoke_invitation(request, invitation_id: int):
    invitations.revoke_invitation(organization=request.organization, actor=request.actor,
                                  invitation_id=invitation_id)
    messages.success(request, "Invitation withdrawn: its link no longer works.")
    return redirect("members")


@login_required
@require_POST
def change_role(request, membership_id: int):
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: owner, admin, staff or viewer.")
        return redirect("members")
    try:
        member = services.change_role(organization=request.organization, actor=request.actor,
                                      membership_id=membership_id, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"{member.user.display_name} is now {member.get_role_display().lower()}.")
    return redirect("members")


@login_required
@require_POST
def remove_member(request, membership_id: int):
    try:
        services.remove_member(organization=request.organization, actor=request.actor,
                               membership_id=membership_id)
    except ValidationError as error:
        messages.error(request, _errors(error))
        return redirect("members")
    if not request.user.memberships.filter(organization=request.organization).exists():
        messages.success(request, "You left the organisation.")
        return redirect("dashboard")
    messages.success(request, "Member removed. They can no longer open this organisation.")
    return redirect("members")


@login_required
@require_POST
def unlock_member(request, membership_id: int):
    cleared = services.unlock_member(organization=request.organization, actor=request.actor,
                                     membership_id=membership_id)
    messages.success(request, "Sign-in unlocked: they can try again now." if cleared
                     else "That member was not locked out.")
    return redirect("members")
