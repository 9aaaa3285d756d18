"""The partner API's frame: keys, tenant scope, permissions, one error shape, idempotency,
throttling, and a base viewset that cannot be loosened."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from rest_framework import mixins

import audit
from accounts.actor import actor_for
from accounts.api_key_services import create_api_key, revoke_api_key
from accounts.api_keys import ApiKey, IdempotentRequest
from accounts.partner_api.viewsets import TenantViewSet
from audit import AuditAction
from audit.models import AuditEvent
from tests.api.conftest import client_with, make_key
from tests.messaging.backend_helpers import make_channel

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


# --- keys ------------------------------------------------------------------------------------
def test_a_key_is_prefixed_shown_once_and_stored_hashed(tenant_a):
    key = make_key(tenant_a, ["messages:read"])
    assert key.startswith("crk_") and "." in key
    with tenant_a.scope():
        row = ApiKey.objects.get()
    assert row.prefix == key.split(".")[0]
    assert key not in row.hashed_key and key.split(".")[1] not in row.pk


def test_creating_and_revoking_a_key_is_audited_by_prefix(tenant_a):
    key = make_key(tenant_a, ["messages:read"])
    prefix = key.split(".")[0]
    with tenant_a.scope():
        row = ApiKey.objects.get()
        revoke_api_key(actor=actor_for(tenant_a.owner, tenant_a.org), key_id=row.pk)
        events = list(AuditEvent.objects.filter(organization=tenant_a.org).order_by("seq")
                      .values_list("action", "detail"))
    assert [a for a, _ in events][-2:] == [AuditAction.API_KEY_CREATED, AuditAction.API_KEY_REVOKED]
    assert all(d["prefix"] == prefix for _, d in events[-2:])


def test_staff_cannot_make_keys_and_nobody_grants_more_than_their_role(tenant_a):
    from django.core.exceptions import PermissionDenied, ValidationError

    with tenant_a.scope(), pytest.raises(PermissionDenied):
        create_api_key(actor=actor_for(tenant_a.staff, tenant_a.org), name="x", scopes=["contacts:read"])
    with tenant_a.scope(), pytest.raises(ValidationError):
        create_api_key(actor=actor_for(tenant_a.owner, tenant_a.org), name="x", scopes=["root:all"])


@pytest.mark.parametrize("header", ["", "Bearer crk_nothere.secretsecret", "Bearer not-a-key",
                                    "Basic dXNlcjpwYXNz"])
def test_unknown_or_malformed_keys_get_the_same_401(tenant_a, header):
    client = client_with("x")
    client.credentials(**({"HTTP_AUTHORIZATION": header} if header else {}))
    response = client.get("/api/v1/channels")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"


def test_revoked_and_expired_keys_answer_like_unknown_ones(tenant_a):
    revoked = make_key(tenant_a, ["messages:read"])
    expiring = make_key(tenant_a, ["messages:read"], expires_at=timezone.now() + dt.timedelta(hours=1))
    with tenant_a.scope():
        revoke_api_key(actor=actor_for(tenant_a.owner, tenant_a.org),
                       key_id=ApiKey.objects.get(prefix=revoked.split(".")[0]).pk)
    unknown = client_with("crk_unknown0.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").get("/api/v1/channels").json()
    assert client_with(revoked).get("/api/v1/channels").json() == unknown
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        assert client_with(expiring).get("/api/v1/channels").json() == unknown


def test_last_used_is_recorded(tenant_a, key_a, api_a):
    api_a.get("/api/v1/channels")
    with tenant_a.scope():
        assert ApiKey.objects.get().last_used_at is not None


# --- tenancy and permissions ---------------------------------------------------------------
def test_a_key_sees_only_its_organisations_rows_and_others_ids_are_404(tenant_a, tenant_b, api_a, api_b):
    with tenant_a.scope():
        channel_a = make_channel(tenant_a.org)
    with tenant_b.scope():
        make_channel(tenant_b.org)
    listed = api_a.get("/api/v1/channels").json()["results"]
    assert [c["id"] for c in listed] == [channel_a.pk]
    assert api_a.get(f"/api/v1/channels/{channel_a.pk}").status_code == 200
    other = api_b.get(f"/api/v1/channels/{channel_a.pk}")
    missing = api_b.get("/api/v1/channels/99999999")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert api_b.get("/api/v1/channels/abc").status_code == 404


def test_the_organisation_never_comes_from_the_request(tenant_a, tenant_b, api_b):
    with tenant_a.scope():
        make_channel(tenant_a.org)
    response = api_b.get(f"/api/v1/channels?organization={tenant_a.org.pk}&organization_id={tenant_a.org.pk}")
    # Refused outright (unknown parameters), so nothing of organisation A can be in the answer.
    assert response.status_code == 400 and "results" not in response.json()
    assert {d["field"] for d in response.json()["error"]["details"]} == {"organization", "organization_id"}
    assert api_b.get("/api/v1/channels").json()["results"] == []  # B's own answer: B has none


def test_a_key_without_the_scope_is_refused_403(tenant_a):
    response = client_with(make_key(tenant_a, ["contacts:read"])).get("/api/v1/channels")
    assert response.status_code == 403
    assert _error(response)["code"] == "permission_denied"


def test_the_base_viewset_cannot_be_loosened():
    from accounts.partner_api.viewsets import SEALED

    assert {"permission_classes", "authentication_classes", "throttle_classes", "check_permissions",
            "check_object_permissions", "check_throttles", "perform_authentication",
            "filter_queryset"} <= set(SEALED)
    for sealed in SEALED:
        loose = [] if sealed.endswith("_classes") else (lambda self, *args, **kwargs: None)
        with pytest.raises(TypeError, match=sealed):
            type("Loose", (mixins.ListModelMixin, TenantViewSet), {sealed: loose})


def test_reads_run_in_the_keys_scope_and_audit_names_the_key(tenant_a, key_a, api_a):
    """Anything audited during an API request names the key (actor type api_key), not a user."""
    from accounts.partner_api import viewsets

    seen = {}

    class Probe(mixins.ListModelMixin, TenantViewSet):
        action_perms = {"list": viewsets.Perm.INBOX_VIEW}

        def base_queryset(self, actor):
            event = audit.record(AuditAction.CONVERSATION_VIEWED, detail={"probe": True})
            seen["event"] = event
            from messaging.models import Channel

            return Channel.objects.all()

        serializer_class = None

        def list(self, request, *args, **kwargs):
            from rest_framework.response import Response

            return Response({"count": self.get_queryset().count()})

    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get("/probe", HTTP_AUTHORIZATION=f"Bearer {key_a}")
    response = Probe.as_view({"get": "list"})(request)
    assert response.status_code == 200
    event = seen["event"]
    assert (event.actor_type, event.actor_id, event.organization_id) == (
        "api_key", key_a.split(".")[0], tenant_a.org.pk)


# --- errors ----------------------------------------------------------------------------------
def test_unknown_routes_and_methods_use_the_error_shape(api_a):
    assert _error(api_a.delete("/api/v1/channels"))["code"] == "method_not_allowed"


# --- throttling ------------------------------------------------------------------------------
def test_throttling_counts_per_key_with_headers_and_retry_after(tenant_a, settings, key_a, api_a):
    settings.API_RATE_LIMIT_RESOLVER = ""  # not the plan's allowance: a small fixed one
    settings.API_REQUESTS_PER_MINUTE = 3
    other = client_with(make_key(tenant_a, ["messages:read"]))
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, 10, tzinfo=dt.UTC), tick=False):
        answers = [api_a.get("/api/v1/channels") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0]["RateLimit-Limit"] == "3" and answers[0]["RateLimit-Remaining"] == "2"
        assert answers[0]["RateLimit-Reset"] == "50"
        assert answers[3]["Retry-After"] == "50"
        assert _error(answers[3])["code"] == "throttled"
        assert other.get("/api/v1/channels").status_code == 200  # another key has its own window
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, 1, tzinfo=dt.UTC), tick=False):
        assert api_a.get("/api/v1/channels").status_code == 200


# --- idempotency -----------------------------------------------------------------------------
def test_idempotency_claims_replays_and_refuses_a_different_body(tenant_a, key_a, rf):
    """Exercised through a probe POST endpoint that counts how often it acts."""
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory

    acted = []

    class Echo(TenantViewSet):
        action_perms = {"create": __import__("accounts.roles", fromlist=["Perm"]).Perm.MESSAGES_SEND}

        def create(self, request):
            acted.append(request.data)
            return Response({"n": len(acted), "at": timezone.now()}, status=201)

    view = Echo.as_view({"post": "create"})

    def post(body, key="retry-1"):
        request = APIRequestFactory().post("/echo", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key_a}",
                                           HTTP_IDEMPOTENCY_KEY=key)
        response = view(request)
        response.render()
        return response

    first, again = post({"to": 1}), post({"to": 1})
    assert first.status_code == again.status_code == 201
    assert first.content == again.content and again["Idempotent-Replayed"] == "true"
    assert len(acted) == 1
    refused = post({"to": 2})
    assert refused.status_code == 422
    assert __import__("json").loads(refused.content)["error"]["code"] == "idempotency_key_reused"
    assert post({"to": 2}, key="retry-2").status_code == 201 and len(acted) == 2
    with tenant_a.scope():
        stored = IdempotentRequest.objects.get(key="retry-1")
    assert stored.response_body["n"] == 1


def test_a_retry_while_the_first_is_in_flight_is_told_to_wait(tenant_a, key_a):
    from rest_framework.test import APIRequestFactory

    from accounts.partner_api import idempotency

    with tenant_a.scope():
        row = ApiKey.objects.get()
        request = APIRequestFactory().post("/echo", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        from rest_framework.request import Request

        idempotency.claim(Request(request), row)
        from accounts.partner_api.errors import ApiError

        with pytest.raises(ApiError) as refused:
            idempotency.claim(Request(APIRequestFactory().post("/echo", {"a": 1}, format="json",
                                                               HTTP_IDEMPOTENCY_KEY="k")), row)
    assert refused.value.status_code == 409 and refused.value.extra_headers["Retry-After"]


def test_old_idempotency_keys_are_purged(tenant_a, key_a, settings):
    from accounts.partner_api.idempotency import purge_expired

    with tenant_a.scope():
        row = ApiKey.objects.get()
        IdempotentRequest.objects.create(organization=tenant_a.org, api_key=row, key="old", fingerprint="0")
        assert purge_expired(now=timezone.now() + dt.timedelta(hours=25)) == 1


def test_a_key_describes_itself(tenant_a):
    key = make_key(tenant_a, ["contacts:read"])
    body = client_with(key).get("/api/v1/me").json()
    assert body["prefix"] == key.split(".")[0] and body["scopes"] == ["contacts:read"]
    assert body["organization"] == tenant_a.org.name


def test_the_audit_log_needs_the_audit_scope_and_shows_only_this_organisation(tenant_a, tenant_b):
    reader = client_with(make_key(tenant_a, ["audit:read"]))
    make_key(tenant_b, ["audit:read"])  # an event in org B's chain
    events = reader.get("/api/v1/audit-events").json()["results"]
    assert events and {e["action"] for e in events} == {"api_key_created"}
    assert all(e["actor_type"] == "user" for e in events)
    with tenant_b.scope():
        other = AuditEvent.objects.filter(organization=tenant_b.org).first()
    assert reader.get(f"/api/v1/audit-events/{other.pk}").status_code == 404
    assert client_with(make_key(tenant_a, ["contacts:read"])).get("/api/v1/audit-events").status_code == 403
    assert reader.get("/api/v1/audit-events?actor_type=robot").status_code == 400


def test_audit_events_filter_by_action_name(tenant_a):
    reader = client_with(make_key(tenant_a, ["audit:read"]))
    assert reader.get("/api/v1/audit-events?action=api_key_created").json()["results"]
    assert reader.get("/api/v1/audit-events?action=login_failed").json()["results"] == []
    assert reader.get("/api/v1/audit-events?action=0.5").status_code == 400


def test_date_filters_take_any_iso_offset_and_compare_in_utc(tenant_a):
    from urllib.parse import quote

    reader = client_with(make_key(tenant_a, ["audit:read"]))
    # PostgreSQL refuses offsets past ±15:59; ISO 8601 allows up to ±23:59 (was a 500).
    def events(query: str, at: str):
        return reader.get(f"/api/v1/audit-events?{query}={quote(at)}")

    assert events("since", "3149-06-24T18:30:15-23:08").json()["results"] == []
    assert events("until", "3149-06-24T18:30:15+23:59").json()["results"]
    assert events("since", "2000-01-01T23:30:00-23:30").json()["results"]
    too_early = events("since", "0001-01-01T00:00:00+14:00")
    assert too_early.status_code == 400 and "between the years 1 and 9999" in too_early.content.decode()


def test_usage_needs_its_scope_and_counts_this_organisations_period_only(tenant_a, tenant_b):
    from billing.services import record_inbound, record_outbound

    with tenant_a.scope():
        record_outbound(organization_id=tenant_a.org.pk, channel_kind="sms", origin="campaign", segments=7,
                        messages=5)
        record_inbound(organization_id=tenant_a.org.pk, channel_kind="sms", messages=2)
    with tenant_b.scope():
        record_outbound(organization_id=tenant_b.org.pk, channel_kind="sms", origin="staff", segments=99)
    assert client_with(make_key(tenant_a, ["contacts:read"])).get("/api/v1/usage").status_code == 403
    body = client_with(make_key(tenant_a, ["usage:read"])).get("/api/v1/usage").json()
    assert (body["used_segments"], body["outbound_messages"], body["inbound_messages"]) == (7, 5, 2)
    assert body["segments_by_origin"] == {"campaign": 7}
    assert body["remaining_segments"] == max(body["included_segments"] - 7, 0)
    assert sum(day["segments"] for day in body["days"]) == 7
    assert {cap["label"] for cap in body["caps"]} == {"Contacts", "Active channels",
                                                      "Members and pending invitations"}
    assert "price" not in str(body).lower()
