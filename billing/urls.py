from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/", views.usage, name="usage"),
    path("billing/plan/", views.plan_change, name="plan_change"),
    path("billing/usage.csv", views.usage_export, name="usage_export"),
    path("billing/statements/<int:statement_id>.<str:file_format>", views.statement_download,
         name="statement_download"),
]
