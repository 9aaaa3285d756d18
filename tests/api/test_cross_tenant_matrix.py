"""The cross-tenant matrix, generated from the router: every endpoint and method, called with
organisation B's all-scopes key on organisation A's ids, answers 404 and changes nothing."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict
from django_scopes import scopes_disabled

from config.api import router
from tests.api.conftest import client_with, make_key
from tests.tenancy import load_all

pytestmark = pytest.mark.django_db

_DETAIL_METHODS = {"retrieve": "get", "update": "put", "partial_update": "patch", "destroy": "delete"}


def _detail_calls():
    """(route prefix, viewset, action, http method) for every detail route of the API."""
    calls = []
    for prefix, viewset, _basename in router.registry:
        for action, method in _DETAIL_METHODS.items():
            if hasattr(viewset, action):
                calls.append((prefix, viewset, action, method))
        for extra in viewset.get_extra_actions():
            if extra.detail:
                for method in extra.mapping:
                    calls.append((f"{prefix}/{{pk}}/{extra.url_path}", viewset, extra.__name__, method))
    return calls


CALLS = _detail_calls()


def test_the_matrix_covers_every_detail_route():
    assert CALLS, "no detail routes found: the generator is broken"
    prefixes = {prefix for prefix, *_ in router.registry}
    assert prefixes <= {c[0].split("/")[0] for c in CALLS} | {p for p, v, _ in router.registry
                                                             if not hasattr(v, "retrieve")}


@pytest.mark.parametrize(("route", "viewset", "action", "method"), CALLS,
                         ids=[f"{m.upper()} {r} ({a})" for r, _, a, m in CALLS])
def test_another_organisations_id_is_404_and_nothing_changes(tenant_a, tenant_b, route, viewset, action,
                                                           method):
    makers = load_all()
    model = viewset.model
    with tenant_a.scope():
        row = makers[model._meta.label_lower](tenant_a.org)
    with scopes_disabled():  # test set-up: compare organisation A's row before and after
        before = model_to_dict(model.objects.get(pk=row.pk))
        count = model.objects.filter(organization=tenant_a.org).count()
    client = client_with(make_key(tenant_b))
    path = "/api/v1/" + (route.replace("{pk}", str(row.pk)) if "{pk}" in route else f"{route}/{row.pk}")
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    with scopes_disabled():
        assert model.objects.filter(organization=tenant_a.org).count() == count
        assert model_to_dict(model.objects.get(pk=row.pk)) == before
