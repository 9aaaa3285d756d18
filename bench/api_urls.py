"""The product's URLs plus the bench-only peer endpoint at /api/bench/v1/plain-contacts (under
/api/, so every middleware treats it exactly like the product API)."""

from django.urls import include, path

from bench.api_peer.views import router
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [path("api/bench/v1/", include(router.urls)), *product_urlpatterns]
