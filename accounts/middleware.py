"""The web door's tenant scope: every request runs inside its user's active organisation.

Anonymous requests run with no scope at all, so any tenant-owned query raises (fail closed).
"""

from __future__ import annotations

from django_scopes import scope, scopes_disabled

from accounts.actor import Actor
from audit import context as audit_context

SESSION_ORG_KEY = "active_organization_id"
SESSION_PLATFORM_VIEW = "platform_view"


def active_membership(request):
    """The membership of the session's active organisation, falling back to the first one."""
    from accounts.models import Membership

    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user, organization__is_active=True)
    wanted = request.session.get(SESSION_ORG_KEY)
    membership = None
    if wanted:
        membership = memberships.select_related("organization").filter(organization_id=wanted).first()
    if membership is None:
        membership = memberships.select_related("organization").order_by("created_at").first()
        if membership is not None:
            request.session[SESSION_ORG_KEY] = membership.organization_id
    return membership


def platform_view_active(request) -> bool:
    from accounts.platform import platform_view_active as active

    return active(request)


class TenantScopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = active_membership(request)
        request.membership = membership
        request.organization = membership.organization if membership else None
        # The door's actor (accounts.actor): services take it and check their own permission.
        request.actor = Actor.member(membership, user=request.user) if membership else None
        token = audit_context.bind(
            actor=request.user if request.user.is_authenticated else None,
            organization=request.organization,
        )
        try:
            if platform_view_active(request):
                # Platform operators' cross-organisation view: explicit, toggled per session, and
                # only for a session that passed the second factor (accounts.platform).
                with scopes_disabled():  # superuser platform view (see above)
                    return self.get_response(request)
            if request.organization is None:
                # No scope at all, not a None scope: tenant queries raise instead of matching NULL.
                return self.get_response(request)
            with scope(organization=request.organization):
                return self.get_response(request)
        finally:
            audit_context.reset(token)
