"""The intake bot in the organisation-scoped admin: questionnaires (through the services) and
a read-only list of submissions without their answers (PHI is read on the audited pages)."""

from __future__ import annotations

from accounts.admin_site import OrgScopedAdmin, admin_site
from campaigns.intake import services
from campaigns.intake.models import Questionnaire, Submission


class QuestionnaireAdmin(OrgScopedAdmin):
    list_display = ("name", "language", "start_keywords", "is_active", "updated_at")
    list_filter = ("is_active", "language")
    fields = services.QUESTIONNAIRE_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def save_model(self, request, obj, form, change):
        values = {
            name: form.cleaned_data[name]
            for name in services.QUESTIONNAIRE_FIELDS
            if name in form.cleaned_data
        }
        if change:
            services.update_questionnaire(
                questionnaire=Questionnaire.objects.get(pk=obj.pk), actor=request.actor, **values
            )
        else:
            created = services.create_questionnaire(actor=request.actor, **values)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.delete_questionnaire(questionnaire=obj, actor=request.actor)


class SubmissionAdmin(OrgScopedAdmin):
    list_display = ("pk", "questionnaire", "submitted_at", "contact_update", "reviewed_at")
    list_filter = ("contact_update",)
    fields = ("questionnaire", "version", "submitted_at", "contact_update", "reviewed_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("answers")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register() -> None:
    if not admin_site.is_registered(Questionnaire):
        admin_site.register(Questionnaire, QuestionnaireAdmin)
        admin_site.register(Submission, SubmissionAdmin)
