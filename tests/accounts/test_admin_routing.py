"""The admin is a door: every tenant model's save and delete in it goes through a service."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from accounts.admin_site import OrgScopedAdmin, admin_site


def _scoped_admins():
    return [(model, model_admin) for model, model_admin in admin_site._registry.items()
            if isinstance(model_admin, OrgScopedAdmin)]


def _can_write(model_admin, request, kind: str) -> bool:
    return bool(getattr(model_admin, f"has_{kind}_permission")(request))


@pytest.mark.parametrize(("model", "model_admin"), _scoped_admins(),
                         ids=lambda value: getattr(value, "__name__", type(value).__name__))
def test_every_writable_scoped_admin_routes_through_a_service(model, model_admin):
    request = RequestFactory().get("/admin/")
    request.user = type("Superuser", (), {"is_superuser": True, "is_active": True})()
    request.membership = None
    cls = type(model_admin)
    if _can_write(model_admin, request, "add") or _can_write(model_admin, request, "change"):
        assert cls.save_model is not OrgScopedAdmin.save_model, f"{cls.__name__} saves with the plain ORM"
    if _can_write(model_admin, request, "delete"):
        assert cls.delete_model is not OrgScopedAdmin.delete_model, (
            f"{cls.__name__} deletes with the plain ORM")


def test_the_base_refuses_a_plain_save():
    from django.core.exceptions import ImproperlyConfigured

    from contacts.models import Tag

    with pytest.raises(ImproperlyConfigured, match="service"):
        OrgScopedAdmin(Tag, admin_site).save_model(None, Tag(), None, False)
