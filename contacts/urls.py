from django.urls import path

from contacts import views, views_export, views_import

app_name = "contacts"
urlpatterns = [
    path("", views.contact_list, name="list"),
    path("search/", views.contact_search, name="search"),
    path("new/", views.contact_create, name="create"),
    path("bulk-tag/", views.bulk_tag, name="bulk_tag"),
    path("export/", views_export.export, name="export"),
    path("<int:contact_id>/", views.contact_detail, name="detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="edit"),
    path("<int:contact_id>/delete/", views.contact_delete, name="delete"),
    path("<int:contact_id>/consent/", views.contact_consent, name="consent"),
    path("import/", views_import.upload, name="import_upload"),
    path("import/<uuid:job_uuid>/map/", views_import.map_columns, name="import_map"),
    path("import/<uuid:job_uuid>/", views_import.progress, name="import_progress"),
    path("import/<uuid:job_uuid>/status/", views_import.status, name="import_status"),
    path("import/<uuid:job_uuid>/result/", views_import.result, name="import_result"),
    path("import/<uuid:job_uuid>/errors.csv", views_import.error_file, name="import_errors"),
]
