"""Campaign pages (mounted at /campaigns/, namespace "campaigns")."""

from django.urls import path

from campaigns import views, views_templates

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("settings/", views_templates.campaign_settings, name="settings"),
    path("templates/", views_templates.template_list, name="templates"),
    path("templates/new/", views_templates.template_create, name="template_create"),
    path("templates/<int:template_id>/", views_templates.template_detail, name="template_detail"),
    path("templates/<int:template_id>/preview/", views_templates.template_live_preview,
         name="template_preview"),
    path("templates/<int:template_id>/variants/<int:variant_id>/delete/", views_templates.variant_delete,
         name="variant_delete"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/count/", views.campaign_count, name="count"),
    path("<int:campaign_id>/upload/", views.campaign_upload, name="upload"),
    path("<int:campaign_id>/preview/", views.campaign_preview, name="preview"),
    path("<int:campaign_id>/progress.json", views.campaign_progress, name="progress"),
    path("<int:campaign_id>/recipients/", views.campaign_recipients, name="recipients"),
    path("<int:campaign_id>/recipients/export/", views.campaign_export, name="export"),
    path("<int:campaign_id>/<str:action>/", views.campaign_action, name="action"),
]
