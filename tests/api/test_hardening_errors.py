"""One error shape everywhere under /api/: unrouted paths, ids that are not ids, and crashes."""

from __future__ import annotations

import json
import logging

import pytest
from rest_framework.test import APIClient, APIRequestFactory

from accounts.partner_api.viewsets import ANY_VALID_KEY, TenantViewSet
from tests.api.conftest import client_with, make_key

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


def test_a_path_no_route_matches_is_a_404_in_the_error_shape(api_a):
    for method in ("get", "post", "delete"):
        for path in ("/api/v1/nope", "/api/v1/channels/1/nope", "/api/nope"):
            response = getattr(api_a, method)(path)
            assert response.status_code == 404, (method, path)
            assert _error(response)["code"] == "not_found"
            assert path not in response.content.decode()  # the request's path is not echoed back


def test_an_unrouted_path_without_a_key_is_the_same_404(api_a):
    assert APIClient().post("/api/v1/nope", {}, format="json").json() == api_a.get("/api/v1/nope").json()


def test_outside_the_api_a_missing_page_is_still_the_sites_page(client):
    response = client.get("/no-such-page-anywhere")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("family,scope", [("channels", "messages:read"), ("audit-events", "audit:read")])
def test_a_non_numeric_id_answers_exactly_like_a_missing_one(tenant_a, family, scope):
    api = client_with(make_key(tenant_a, [scope]))
    missing = api.get(f"/api/v1/{family}/99999999")
    # "1.5.6" and "1.JSON" match neither the router's default id pattern nor its format suffix.
    for odd in ("abc", "1.5", "1.5.6", "1.JSON", "-1", "%20", "%C2%B2"):  # "²": a digit, not an int
        response = api.get(f"/api/v1/{family}/{odd}")
        assert response.status_code == 404, odd
        assert response.json() == missing.json(), odd  # the view's 404, not the router's


class _Crashing(TenantViewSet):
    action_perms = {"list": ANY_VALID_KEY}

    def list(self, request):
        raise RuntimeError("kaboom for +14085550123")


def test_an_unexpected_exception_in_an_api_view_is_a_500_in_the_error_shape(key_a, caplog):
    request = APIRequestFactory().get("/probe", HTTP_AUTHORIZATION=f"Bearer {key_a}")
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = _Crashing.as_view({"get": "list"})(request)
        response.render()
    assert response.status_code == 500
    assert _error(response)["code"] == "server_error"
    assert "kaboom" not in response.content.decode() and "+1408" not in response.content.decode()
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in caplog.records)


def test_a_crash_outside_a_drf_view_under_api_is_a_500_in_the_error_shape(api_a, monkeypatch):
    from accounts.partner_api.middleware import PartnerApiMiddleware

    def crash(self, request):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(PartnerApiMiddleware, "takes", crash)
    api_a.raise_request_exception = False
    response = api_a.get("/api/v1/channels")
    assert response.status_code == 500
    assert _error(response)["code"] == "server_error"
    page = APIClient(raise_request_exception=False).get("/no-such-page-anywhere")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_a_crashing_view_still_reaches_the_test_client_as_its_exception(api_a, monkeypatch):
    # The handler tells Django's got_request_exception, as Django's own 500 does: tests see the error.
    from messaging.api import ChannelViewSet

    def crash(self, actor):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(ChannelViewSet, "base_queryset", crash)
    with pytest.raises(RuntimeError, match="kaboom"):
        api_a.get("/api/v1/channels")
    api_a.raise_request_exception = False
    response = api_a.get("/api/v1/channels")
    assert response.status_code == 500 and _error(response)["code"] == "server_error"
