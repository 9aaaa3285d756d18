"""The Django admin for organisation admins: scoped to their organisation by the tenant middleware.

Access comes from the role (owner/admin) in the active organisation, not from Django's
is_staff flag. Platform superusers see only their active organisation too, unless they
explicitly enter the platform view.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404

from accounts.roles import Perm, role_has


class CareRelayAdminSite(admin.AdminSite):
    site_header = "CareRelay administration"
    site_title = "CareRelay admin"
    index_title = "Your organisation"

    def has_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        # The admin changes who may see PHI: only a session that passed the second factor enters.
        if not (hasattr(user, "is_verified") and user.is_verified()):
            return False
        if user.is_superuser:
            return True
        membership = getattr(request, "membership", None)
        return membership is not None and role_has(membership.role, Perm.ADMIN_SITE)

    def each_context(self, request):
        context = super().each_context(request)
        from accounts.platform import platform_view_active

        if platform_view_active(request):
            # The admin has its own templates: its header carries the platform view warning instead
            # of base.html's banner (leave it from any CareRelay page or the account security page).
            context["site_header"] = "Platform view: you are seeing every organisation's records"
            context["platform_view"] = True
        return context

    def login(self, request, extra_context=None):
        # One sign-in for the whole product: ours, with the second factor (never admin's own form).
        if request.user.is_authenticated:
            # Signed in but not allowed: sending them to sign-in would bounce straight back here
            # (a redirect loop). Say why on the 403 page instead.
            raise PermissionDenied(self.refusal_reason(request))
        return redirect_to_login(request.get_full_path(), "login", REDIRECT_FIELD_NAME)

    def refusal_reason(self, request) -> str:
        """Why a signed-in person may not use the admin, and what to do about it."""
        user = request.user
        if not user.is_active:
            return "This account is switched off."
        membership = getattr(request, "membership", None)
        if not user.is_superuser:
            if membership is None:
                return "You are not a member of an active organisation, so there is no admin for you to open."
            if not role_has(membership.role, Perm.ADMIN_SITE):
                return (f"Your role in {membership.organization.name} "
                        f"({membership.get_role_display().lower()}) cannot use the admin. An owner or "
                        "admin of your organisation can change your role.")
        return ("The admin opens only in a session that passed two-factor verification. Set up "
                "two-factor authentication on the account security page, then sign in again.")


admin_site = CareRelayAdminSite(name="admin")


class NotFoundIs404:
    """Another organisation's id answers 404, exactly like a missing one (no redirect hint)."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such record in your organisation.")


class OrgScopedAdmin(NotFoundIs404, admin.ModelAdmin):
    """Base for tenant-owned models: rows come through the scoped manager, new rows get the org.

    Permission follows the role (ADMIN_SITE); subclasses narrow it further.
    """

    exclude = ("organization",)

    def _role_allows(self, request) -> bool:
        membership = getattr(request, "membership", None)
        return request.user.is_superuser or (
            membership is not None and role_has(membership.role, Perm.ADMIN_SITE)
        )

    def has_module_permission(self, request):
        return self._role_allows(request)

    def has_view_permission(self, request, obj=None):
        return self._role_allows(request)

    def has_add_permission(self, request):
        return self._role_allows(request)

    def has_change_permission(self, request, obj=None):
        return self._role_allows(request)

    def has_delete_permission(self, request, obj=None):
        return self._role_allows(request)

    # The admin is a door like the web UI and the API: a save or delete of a tenant row goes
    # through that app's service, so it is validated and audited the same way. A subclass that
    # allows adding, changing or deleting must route it; the plain ORM save is refused here.
    def save_model(self, request, obj, form, change):
        raise ImproperlyConfigured(
            f"{type(self).__name__} must override save_model and call its app's service "
            "(admin saves are validated and audited like every other door).")

    def delete_model(self, request, obj):
        raise ImproperlyConfigured(
            f"{type(self).__name__} must override delete_model and call its app's service.")

    def delete_queryset(self, request, queryset):
        """Bulk delete from the change list: each row through ``delete_model`` (so, the service)."""
        for obj in queryset:
            self.delete_model(request, obj)
