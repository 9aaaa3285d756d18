"""Admin pages for organisation admins: their organisation's settings, members and audit log.

Changes go through accounts' services, so the admin obeys the same owner rules and writes
the same audit events as the web UI. The audit log's admin lives here because audit, the
floor of the stack, imports no other app.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import services
from accounts.admin_site import NotFoundIs404, OrgScopedAdmin, admin_site
from accounts.models import Invitation, Membership, Organization
from accounts.platform import platform_view_active
from accounts.roles import Perm, role_has
from audit.models import AuditEvent


class OrganizationAdmin(NotFoundIs404, admin.ModelAdmin):
    fields = ("name", "slug", "default_region", "timezone", "require_two_factor", "idle_timeout_minutes")
    readonly_fields = ("slug",)
    list_display = ("name", "slug", "require_two_factor", "idle_timeout_minutes")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if platform_view_active(request):
            return qs
        return qs.filter(pk=getattr(request.organization, "pk", None))

    def has_module_permission(self, request):
        return admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None):
        return admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        membership = getattr(request, "membership", None)
        return admin_site.has_permission(request) and (
            membership is not None and role_has(membership.role, Perm.ORG_SETTINGS_MANAGE))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        fields = set(form.changed_data) & services.EDITABLE_ORGANIZATION_FIELDS
        services.update_organization_settings(
            organization=Organization.objects.get(pk=obj.pk), actor=request.actor,
            **{field: form.cleaned_data[field] for field in fields})


class MembershipAdmin(OrgScopedAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    fields = ("user", "role")
    readonly_fields = ("user",)
    actions = ["unlock_sign_in"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        if platform_view_active(request):
            return qs
        # Membership is exempt from django-scopes (see TENANCY_EXEMPT): filter by hand here.
        return qs.filter(organization=request.organization)

    def has_add_permission(self, request):
        return False  # people join by invitation (the members page)

    def _members_manager(self, request) -> bool:
        membership = getattr(request, "membership", None)
        return self._role_allows(request) and membership is not None and role_has(
            membership.role, Perm.MEMBERS_MANAGE)

    def has_change_permission(self, request, obj=None):
        return self._members_manager(request)

    def has_delete_permission(self, request, obj=None):
        return self._members_manager(request)

    def save_model(self, request, obj, form, change):
        try:
            services.change_role(organization=request.organization, actor=request.actor,
                                 membership_id=obj.pk, role=obj.role)
        except (ValidationError, PermissionDenied) as error:
            request._membership_change_refused = True
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        # A refused role change must not also say "changed successfully".
        if getattr(request, "_membership_change_refused", False) and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kwargs)

    def delete_model(self, request, obj):
        services.remove_member(organization=request.organization, actor=request.actor, membership_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            self.delete_model(request, membership)

    @admin.action(description="Unlock sign-in of the selected members")
    def unlock_sign_in(self, request, queryset):
        cleared = sum(services.unlock_member(organization=request.organization, actor=request.actor,
                                             membership_id=m.pk) for m in queryset)
        self.message_user(request, f"Unlocked ({cleared} lock record(s) cleared).")


class InvitationAdmin(OrgScopedAdmin):
    list_display = ("email", "role", "status", "created_at", "expires_at")
    fields = ("email", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # invitations are sent from the members page, which e-mails the link

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin_site.register(Organization, OrganizationAdmin)
admin_site.register(Membership, MembershipAdmin)
admin_site.register(Invitation, InvitationAdmin)


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
