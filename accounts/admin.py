"""Admin pages for organisation admins: their organisation's settings, members and audit log.

The audit log's admin lives here because audit, the floor of the stack, imports no other app.
"""

from django.contrib import admin

from accounts.admin_site import NotFoundIs404, OrgScopedAdmin, admin_site
from accounts.models import Membership, Organization
from accounts.roles import Perm, role_has
from audit.models import AuditEvent


class OrganizationAdmin(NotFoundIs404, admin.ModelAdmin):
    fields = ("name", "slug", "default_region", "timezone")
    list_display = ("name", "slug", "default_region", "timezone")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser and request.session.get("platform_view"):
            return qs
        return qs.filter(pk=getattr(request.organization, "pk", None))

    def has_module_permission(self, request):
        return admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None):
        return admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        return admin_site.has_permission(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipAdmin(OrgScopedAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    fields = ("user", "role")

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        if request.user.is_superuser and request.session.get("platform_view"):
            return qs
        # Membership is exempt from django-scopes (see TENANCY_EXEMPT): filter by hand here.
        return qs.filter(organization=request.organization)


admin_site.register(Organization, OrganizationAdmin)
admin_site.register(Membership, MembershipAdmin)



class AuditEventAdmin(NotFoundIs404, admin.ModelAdmin):
    list_display = ("created_at", "action", "actor_type", "actor_id", "target_type", "target_id", "seq")
    list_filter = ("action", "actor_type")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None):
        membership = getattr(request, "membership", None)
        return request.user.is_superuser or (
            membership is not None and role_has(membership.role, Perm.AUDIT_VIEW)
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin_site.register(AuditEvent, AuditEventAdmin)
