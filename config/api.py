"""The partner API's URL map: each app's ``api.py`` registers its viewsets on its own router;
this module only mounts them, with the OpenAPI schema and the offline docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.api import KeyViewSet
from accounts.api import router as accounts_router
from billing.api import UsageViewSet
from campaigns.api import router as campaigns_router
from campaigns.intake.api import router as intake_router
from contacts.api import router as contacts_router
from contacts.api_imports import router as imports_router
from messaging.api import router as messaging_router

router = DefaultRouter(trailing_slash=False)
for app_router in (accounts_router, contacts_router, imports_router, messaging_router, campaigns_router,
                   intake_router):
    router.registry.extend(app_router.registry)

urlpatterns = [
    path("v1/me", KeyViewSet.as_view({"get": "me"}), name="api-me"),
    path("v1/usage", UsageViewSet.as_view({"get": "current"}), name="api-usage"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split Swagger view serves its start-up script as a file: the strict CSP holds.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
