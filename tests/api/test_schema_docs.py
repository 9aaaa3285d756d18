"""The OpenAPI schema and the offline reference pages (strict CSP, nothing from a CDN)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_with_the_error_shape_and_key_auth():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/channels" in schema["paths"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer"
               for s in schema["components"]["securitySchemes"].values())
    assert "Error" in schema["components"]["schemas"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_reference_pages_load_only_our_own_files(path):
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html and "fonts.googleapis" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script breaks the CSP"
    assert all(src.startswith("/") for src in re.findall(r'(?:src|href)="([^"]+)"', html))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
