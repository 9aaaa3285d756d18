"""Template context: the active organisation, the user's role and what it may do."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from accounts.roles import ROLE_PERMISSIONS


def tenant(request):
    membership = getattr(request, "membership", None)
    perms = ROLE_PERMISSIONS.get(membership.role, frozenset()) if membership else frozenset()
    organization = getattr(request, "organization", None)

    def memberships():
        from accounts.selectors import memberships_of

        return list(memberships_of(request.user)) if hasattr(request, "user") else []

    from accounts.platform import platform_view_active

    return {
        # base.html shows the platform view banner (with its leave button) on every page.
        "platform_view": platform_view_active(request),
        "current_organization": organization,
        "current_membership": membership,
        "can": {p.value.replace(".", "__"): True for p in perms},
        # For the navbar's organisation switcher; evaluated only when a template uses it.
        "user_memberships": SimpleLazyObject(memberships),
        # accounts-idle.js returns to the sign-in page when this many seconds pass without activity.
        "idle_timeout_seconds": 60 * (organization.idle_timeout_minutes if organization is not None
                                      else settings.SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES),
        # ... and warns this many seconds before, with a "stay signed in" button.
        "idle_warning_seconds": settings.SESSION_IDLE_WARNING_SECONDS,
    }
