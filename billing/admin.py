"""Plans in the admin: platform data, so superusers only (organisation admins never see them).

A plan that organisations still use cannot be deleted (``on_delete=PROTECT``); the admin says
so and what to do instead: make it inactive, which hides it from the pricing page and from
plan changes while its subscribers keep it.
"""

from __future__ import annotations

from django.contrib import admin, messages

from accounts.admin_site import admin_site
from billing.models import Plan, Subscription


class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "is_active", "monthly_price", "currency", "included_segments",
                    "overage_price_per_1000", "contact_cap", "channel_cap", "user_cap")
    list_editable = ("is_active",)
    ordering = ("sort_order",)

    def _superuser(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request):
        return self._superuser(request)

    def has_view_permission(self, request, obj=None):
        return self._superuser(request)

    def has_add_permission(self, request):
        return self._superuser(request)

    def has_change_permission(self, request, obj=None):
        return self._superuser(request)

    def has_delete_permission(self, request, obj=None):
        if not self._superuser(request):
            return False
        return obj is None or not _in_use(obj)

    def delete_queryset(self, request, queryset):
        used = [plan.name for plan in queryset if _in_use(plan)]
        if used:
            self.message_user(request, f"Not deleted: {', '.join(used)} still has subscribers. Make it "
                              "inactive instead (it leaves the pricing page; subscribers keep it).",
                              messages.ERROR)
            return
        super().delete_queryset(request, queryset)


def _in_use(plan: Plan) -> bool:
    return Subscription._base_manager.filter(plan=plan).exists()


admin_site.register(Plan, PlanAdmin)
