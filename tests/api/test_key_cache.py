"""The API key row is cached per process; the token is verified on every request, and a revoked
key is refused at once here and within API_KEY_CACHE_SECONDS in every other process."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import process_cache
from accounts.actor import actor_for
from accounts.api_key_services import revoke_api_key
from accounts.api_keys import ApiKey
from tests.api.conftest import client_with, make_key

pytestmark = pytest.mark.django_db


def _row(key: str) -> ApiKey:
    return ApiKey.objects.get(prefix=key.split(".")[0])


def test_a_second_request_finds_the_key_without_reading_it(key_a, api_a):
    assert api_a.get("/api/v1/channels").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert api_a.get("/api/v1/channels").status_code == 200
    assert queries.captured_queries  # the request itself still reads
    assert not [q for q in queries.captured_queries if "accounts_apikey" in q["sql"]]


def test_a_cached_key_with_a_wrong_secret_is_refused(tenant_a, key_a, api_a):
    assert api_a.get("/api/v1/channels").status_code == 200
    prefix, _, secret = key_a.partition(".")
    forged = f"{prefix}.{'x' * len(secret)}"
    assert client_with(forged).get("/api/v1/channels").status_code == 401


def test_a_key_revoked_in_this_process_is_refused_at_once(tenant_a, key_a, api_a):
    assert api_a.get("/api/v1/channels").status_code == 200
    with tenant_a.scope():
        revoke_api_key(actor=actor_for(tenant_a.owner, tenant_a.org), key_id=_row(key_a).pk)
    assert api_a.get("/api/v1/channels").status_code == 401


def test_a_key_revoked_elsewhere_is_refused_when_the_entry_expires(tenant_a, settings, monkeypatch):
    """Another process's revocation sends no signal here: the entry's lifetime bounds it."""
    settings.API_KEY_CACHE_SECONDS = 2
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    key = make_key(tenant_a, ["messages:read"])
    client = client_with(key)
    assert client.get("/api/v1/channels").status_code == 200
    with tenant_a.scope():
        ApiKey.objects.filter(pk=_row(key).pk).update(revoked=True)  # sends no signal
    now[0] += 1.5
    assert client.get("/api/v1/channels").status_code == 200
    now[0] += 1
    assert client.get("/api/v1/channels").status_code == 401


def test_last_used_is_written_once_a_minute_not_once_a_request(tenant_a, key_a, api_a):
    assert api_a.get("/api/v1/channels").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        api_a.get("/api/v1/channels")
        api_a.get("/api/v1/channels")
    assert not [q for q in queries.captured_queries if 'UPDATE "accounts_apikey"' in q["sql"]]
    with tenant_a.scope():
        assert _row(key_a).last_used_at is not None


def test_an_organisation_switched_off_here_refuses_its_cached_keys_at_once(tenant_a, key_a, api_a):
    assert api_a.get("/api/v1/channels").status_code == 200
    tenant_a.org.is_active = False
    tenant_a.org.save()
    assert api_a.get("/api/v1/channels").status_code == 401
