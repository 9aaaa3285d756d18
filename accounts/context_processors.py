"""Template context: the active organisation, the user's role and what it may do."""

from accounts.roles import ROLE_PERMISSIONS


def tenant(request):
    membership = getattr(request, "membership", None)
    perms = ROLE_PERMISSIONS.get(membership.role, frozenset()) if membership else frozenset()
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "can": {p.value.replace(".", "__"): True for p in perms},
    }
