"""Settings → API keys: owners and admins make and revoke keys; the key is shown once."""

from __future__ import annotations

import re

import pytest

from accounts.api_keys import ApiKey
from tests.api.conftest import client_with

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_key_sees_it_once_and_it_works(tenant_a):
    web = tenant_a.client_for("admin")
    response = web.post("/org/api-keys/", {"name": "Scheduler", "scopes": ["messages:read"]})
    assert response.status_code == 200
    key = re.search(r'value="(crk_[^"]+)"', response.content.decode()).group(1)
    assert client_with(key).get("/api/v1/channels").status_code == 200
    listing = web.get("/org/api-keys/").content.decode()
    assert key not in listing and key.split(".")[0] in listing


def test_revoking_from_the_page_refuses_the_key_at_once(tenant_a):
    web = tenant_a.client_for("owner")
    page = web.post("/org/api-keys/", {"name": "EHR", "scopes": ["messages:read"]}).content.decode()
    key = re.search(r'value="(crk_[^"]+)"', page).group(1)
    web.post(f"/org/api-keys/{key.split('.')[0]}/revoke/")
    assert client_with(key).get("/api/v1/channels").status_code == 401
    with tenant_a.scope():
        assert ApiKey.objects.get().revoked_at is not None


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_cannot_manage_keys(tenant_a, role):
    web = tenant_a.client_for(role)
    assert web.get("/org/api-keys/").status_code == 403
    assert web.post("/org/api-keys/", {"name": "x", "scopes": ["messages:read"]}).status_code == 403


def test_another_organisations_key_cannot_be_revoked(tenant_a, tenant_b, key_b):
    web = tenant_a.client_for("owner")
    web.post(f"/org/api-keys/{key_b.split('.')[0]}/revoke/")
    assert client_with(key_b).get("/api/v1/channels").status_code == 200


def test_a_form_error_says_what_to_do(tenant_a):
    response = tenant_a.client_for("owner").post("/org/api-keys/", {"name": "", "scopes": []})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
