"""The cross-tenant matrix, generated from the router: every route and method of the partner API,
called with organisation B's all-scopes key on organisation A's ids — in the URL (404), in list
filters (an empty page or a refusal), in bodies (400 naming the field, or 404; nothing created) —
never answers with A's data, and leaves every tenant-scoped row of A exactly as it was.

The routes, their bodies and filters come from config/api.py and drf-spectacular
(tests/api/matrix_routes.py); the calls and checks are in tests/api/matrix_calls.py."""

from __future__ import annotations

import pytest

from tests.api import matrix_calls as calls
from tests.api.conftest import client_with, make_key
from tests.api.matrix_routes import all_cases, api_routes, other_views, unclassified_fields
from tests.api.matrix_seed import seed_organization

pytestmark = pytest.mark.django_db

# Writes that B may make with A's phone or e-mail (B's own contact) go last: the lookups before
# them must find nothing.
CASES = sorted(all_cases(), key=lambda c: c.kind == "identifier" and c.action != "lookup")

def test_every_route_and_method_of_the_router_has_a_case():
    routes = api_routes()
    # The walk found the router's routes, its detail=False actions and config's own paths.
    paths = {route.path for route in routes}
    assert {"contacts", "contacts/{pk}", "contacts/lookup", "contact-imports/mapping-targets", "me",
            "usage", "conversations/{pk}/reply"} <= paths
    assert other_views() <= {"APIRootView", "SpectacularAPIView", "SpectacularSwaggerSplitView",
                             "SpectacularRedocView"}
    wanted = {(route.path, method) for route in routes for method, _ in route.actions}
    covered = {(case.route.path, case.method) for case in CASES}
    assert wanted - covered == set(), "a route or method without a matrix case"
    # Every detail route is tried with A's id; every body id and id filter with A's.
    assert {(r.path, m) for r in routes if r.detail for m, _ in r.actions} <= {
        (c.route.path, c.method) for c in CASES if c.kind == "a_row"}
    kinds = {(c.route.path, c.method, c.kind, c.field) for c in CASES}
    assert {("campaigns", "post", "body_id", "channel"), ("campaigns", "post", "body_id", "audience.tags"),
            ("questionnaires/{pk}/start", "post", "body_id", "contact"),
            ("conversations/{pk}/template", "post", "body_id", "template"),
            ("contact-imports", "post", "body_id", "mapping"),
            ("contacts/lookup", "post", "identifier", "phone"),
            ("conversations", "get", "filter", "contact"), ("contacts", "get", "filter", "tag"),
            ("submissions", "get", "filter", "questionnaire")} <= kinds


def test_every_integer_field_and_filter_is_classified_as_an_id_or_not():
    assert unclassified_fields() == [], "add it to ID_FIELDS or NOT_IDS in tests/api/matrix_routes.py"


@pytest.fixture
def matrix(tenant_a, tenant_b, settings):
    settings.API_RATE_LIMIT_RESOLVER, settings.API_REQUESTS_PER_MINUTE = "", 100_000  # not under test here
    a, b = seed_organization(tenant_a, "Alpha"), seed_organization(tenant_b, "Bravo")
    return a, b, client_with(make_key(tenant_b))


def _run(case, tenant_a, tenant_b, a, b, client) -> list[str]:
    before = calls.created_rows(case, tenant_b.org)
    response = calls.call(client, case, a, b)
    found = calls.problems(case, response, a)
    if case.kind == "body_id" and calls.created_rows(case, tenant_b.org) != before:
        found.append("a row was created")
    return found


def test_organisation_b_never_reaches_organisation_a(tenant_a, tenant_b, matrix):
    a, b, client = matrix
    before = calls.snapshot(tenant_a.org)
    found = {}
    for case in CASES:
        wrong = _run(case, tenant_a, tenant_b, a, b, client)
        if wrong:
            found[case.id] = wrong
    assert found == {}
    after = calls.snapshot(tenant_a.org)
    assert {label: (before[label], after[label]) for label in before if before[label] != after[label]} == {}
