"""URL map: each app owns its urls; config only mounts them."""

from django.urls import include, path

from accounts.admin_site import admin_site
from config.dashboard import dashboard
from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin_site.urls),
    path("api/", include("config.api")),
    path("", dashboard, name="dashboard"),
    path("", include("accounts.urls")),
    path("contacts/", include("contacts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("webhooks/", include("messaging.webhook_urls")),
    path("", include("messaging.urls")),
    path("", include("billing.urls")),
    path("intake/", include("campaigns.intake.urls")),
]

# Under /api/ the one error shape, elsewhere the site's pages (accounts/partner_api/errors.py).
handler404 = "accounts.partner_api.errors.page_not_found"
handler500 = "accounts.partner_api.errors.server_error"
