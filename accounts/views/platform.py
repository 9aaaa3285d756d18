"""Entering and leaving the platform operators' cross-organisation view."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts import platform


@login_required
@require_POST
def platform_view(request):
    """POST action=enter (superusers only) or action=leave."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only platform operators can use the platform view.")
    action = request.POST.get("action")
    if action == "enter":
        platform.enter_platform_view(actor=request.user, session=request.session)
        messages.warning(request, "Platform view is on: you see every organisation's records. "
                                  "Leave it as soon as you are done.")
        return redirect("admin:index")
    if action == "leave":
        platform.leave_platform_view(session=request.session)
        messages.success(request, "You left the platform view: you see only your organisation again.")
        return redirect("dashboard")
    messages.error(request, "Choose to enter or leave the platform view.")
    return redirect("two_factor:profile")
