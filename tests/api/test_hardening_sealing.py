"""TenantViewSet's door cannot be loosened by the back ways: a mixin ahead of it in the MRO, an
``@action``'s arguments, ``as_view()``'s arguments. More permissions come only through
``extra_permission_classes``, which adds to the base ones."""

from __future__ import annotations

import pytest
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from accounts.partner_api.viewsets import ANY_VALID_KEY, TenantViewSet


class _AllowAnything:
    permission_classes = [permissions.AllowAny]
    throttle_classes = []

    def check_permissions(self, request):
        return None


def test_a_mixin_ahead_of_the_base_cannot_replace_what_it_seals():
    with pytest.raises(TypeError, match="permission_classes"):
        type("Loose", (_AllowAnything, TenantViewSet), {})


@pytest.mark.parametrize("loosening", [{"permission_classes": [permissions.AllowAny]},
                                       {"throttle_classes": []}, {"authentication_classes": []}])
def test_an_actions_arguments_cannot_replace_what_the_base_seals(loosening):
    def hole(self, request, pk=None):
        return Response({})

    with pytest.raises(TypeError, match=next(iter(loosening))):
        type("Loose", (TenantViewSet,), {"hole": action(detail=True, methods=["get"], **loosening)(hole)})


def test_an_actions_filter_backends_stay_allowed():
    def plain(self, request, pk=None):
        return Response({})

    type("Fine", (TenantViewSet,), {"plain": action(detail=True, methods=["get"], filter_backends=[])(plain)})


def test_as_view_cannot_set_what_the_base_seals():
    class Probe(TenantViewSet):
        action_perms = {"list": ANY_VALID_KEY}

        def list(self, request):
            return Response({})

    with pytest.raises(TypeError, match="permission_classes"):
        Probe.as_view({"get": "list"}, permission_classes=[permissions.AllowAny])


class _Never(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return False


@pytest.mark.django_db
def test_extra_permissions_add_to_the_base_ones_and_never_replace_them(tenant_a, key_a):
    class Narrow(TenantViewSet):
        action_perms = {"list": ANY_VALID_KEY}
        extra_permission_classes = (_Never,)

        def list(self, request):
            return Response({"ok": True})

    class Wide(TenantViewSet):
        action_perms = {"list": ANY_VALID_KEY}
        extra_permission_classes = (permissions.AllowAny,)

        def list(self, request):
            return Response({"ok": True})

    factory = APIRequestFactory()
    keyed = factory.get("/probe", HTTP_AUTHORIZATION=f"Bearer {key_a}")
    assert Narrow.as_view({"get": "list"})(keyed).status_code == 403
    assert Wide.as_view({"get": "list"})(factory.get("/probe", HTTP_AUTHORIZATION=f"Bearer {key_a}")
                                         ).status_code == 200
    # AllowAny added does not let a request without a key through: the base permissions still run.
    assert Wide.as_view({"get": "list"})(factory.get("/probe")).status_code == 401
