"""The partner API's routes, walked from config/api.py's URL patterns (never a hand list), and
the cross-tenant matrix's cases generated from them: each route and method, the request
serializer drf-spectacular documents for it, the fields of that body and the filters of that
list which carry ids.

Fields that carry a reference to a row are classified here once: a new integer field or
filter that is neither an id (``ID_FIELDS``) nor known not to be one (``NOT_IDS``) fails
``unclassified_fields`` — so a new reference cannot slip past the matrix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from django import forms
from django.urls import URLPattern, URLResolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from accounts.partner_api.viewsets import TenantViewSet

# Body fields and filters that take a row's id: the model they point at, by name (the
# serializer's class name first where a name means another model there).
ID_FIELDS = {
    "channel": "messaging.channel", "contact": "contacts.contact", "tag": "contacts.tag",
    "tags": "contacts.tag", "exclude_tags": "contacts.tag", "template": "campaigns.messagetemplate",
    "TemplateSendSerializer.template": "messaging.whatsapptemplate",
    "questionnaire": "campaigns.questionnaire",
}
# Integer fields and filters that are no reference to a row.
NOT_IDS = {"exclude_messaged_days", "page", "page_size"}
# Text fields whose value finds a row (a contact's phone or e-mail): A's value must find nothing.
IDENTIFIERS = {"phone": ("contacts.contact", "phone"), "email": ("contacts.contact", "email")}
# Text fields whose value names a row by key: (builder of the value from a seed), per serializer field.
REFERENCES = {"ContactImportCreateSerializer.mapping": "mapping"}


@dataclass(frozen=True)
class Route:
    path: str  # e.g. "contacts/{pk}/tags", under /api/v1/
    viewset: type
    actions: tuple[tuple[str, str], ...]  # (http method, action)

    @property
    def detail(self) -> bool:
        return "{pk}" in self.path


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _as_path(regex: str) -> str:
    path = regex.replace("^", "").replace("$", "")
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "{pk}" if m.group(1) == "pk" else "{" + m.group(1) + "}",
                  path)


@cache
def api_routes() -> tuple[Route, ...]:
    """Every partner-API route of config/api.py: its path, viewset and (method, action) pairs."""
    from config import api

    routes = []
    for regex, callback in _walk(api.urlpatterns):
        cls = getattr(callback, "cls", None)
        if not (isinstance(cls, type) and issubclass(cls, TenantViewSet)):
            continue
        path = _as_path(regex)
        if "{format}" in path:  # the router's format-suffix twins of the same views
            continue
        assert path.startswith("v1/"), path
        routes.append(Route(path=path.removeprefix("v1/"), viewset=cls,
                            actions=tuple(sorted(callback.actions.items()))))
    return tuple(routes)


def other_views() -> set[str]:
    """The non-TenantViewSet views of config/api.py (schema, docs, the router's index)."""
    from config import api

    return {getattr(getattr(cb, "cls", None), "__name__", getattr(cb, "__name__", "?"))
            for _, cb in _walk(api.urlpatterns)
            if not issubclass(getattr(cb, "cls", object), TenantViewSet)}


@cache
def _callbacks() -> dict[tuple[str, str], object]:
    from config import api

    return {(_as_path(regex).removeprefix("v1/"), method): cb for regex, cb in _walk(api.urlpatterns)
            for method in getattr(cb, "actions", {})}


@cache
def _generator() -> SchemaGenerator:
    return SchemaGenerator()  # held: its views' schemas refer back weakly


@cache
def view_for(route: Route, method: str):
    """The view drf-spectacular documents for ``method`` on ``route`` (with the action's initkwargs)."""
    view = _generator().create_view(_callbacks()[(route.path, method)], method.upper())
    view.schema.method = method.upper()
    return view


@cache
def request_serializer(route: Route, method: str) -> serializers.Serializer | None:
    """The body the schema documents for this operation (None for reads and body-less actions)."""
    if method not in ("post", "put", "patch"):
        return None
    view = view_for(route, method)  # held: the schema refers to its view weakly
    found = view.schema.get_request_serializer()
    if isinstance(found, dict):  # {media type: serializer}
        found = next(iter(found.values()))
    if isinstance(found, type):
        found = found()
    return found if isinstance(found, serializers.Serializer) else None


def filters_of(route: Route, method: str) -> dict:
    """The django-filter filters of this operation's filterset (the action's own, if it names one)."""
    filterset = getattr(view_for(route, method), "filterset_class", None)
    return dict(filterset.base_filters) if filterset is not None else {}


# --- fields --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BodyField:
    path: str  # dotted, e.g. "audience.tags"
    kind: str  # "id", "ids" (a list of ids), "identifier", "reference" or "value"
    target: str | None  # the model label (ids, identifiers) or the reference's builder
    field: serializers.Field
    required: bool = True  # it and every serializer it is nested in


def _is_integer(field) -> bool:
    return isinstance(field, serializers.IntegerField) and not isinstance(field, serializers.BooleanField)


def _id_target(owner: str, name: str) -> str | None:
    return ID_FIELDS.get(f"{owner}.{name}", ID_FIELDS.get(name))


def body_fields(serializer: serializers.Serializer, prefix: str = "",
                required: bool = True) -> list[BodyField]:
    """The writable fields of a body, nested serializers flattened; ids, identifiers and references
    recognised (an unrecognised integer is ``kind="unclassified"``)."""
    owner = type(serializer).__name__
    found = []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        path = f"{prefix}{name}"
        if isinstance(field, serializers.Serializer):
            found.extend(body_fields(field, f"{path}.", required and field.required))
        elif f"{owner}.{name}" in REFERENCES:
            found.append(BodyField(path, "reference", REFERENCES[f"{owner}.{name}"], field))
        elif isinstance(field, serializers.RelatedField) or _is_integer(field):
            target = _id_target(owner, name)
            kind = "id" if target else ("value" if name in NOT_IDS else "unclassified")
            found.append(BodyField(path, kind, target, field))
        elif isinstance(field, serializers.ListField) and _is_integer(field.child):
            target = _id_target(owner, name)
            kind = "ids" if target else ("value" if name in NOT_IDS else "unclassified")
            found.append(BodyField(path, kind, target, field))
        elif isinstance(field, serializers.CharField) and name in IDENTIFIERS:
            found.append(BodyField(path, "identifier", IDENTIFIERS[name][0], field))
        else:
            found.append(BodyField(path, "value", None, field, required and field.required))
    return found


def filter_kind(name: str, filter_) -> str:
    """"id" for a filter taking a row's id, "value" for others, "unclassified" for an integer
    filter nobody has classified."""
    if name in ID_FIELDS:
        return "id"
    field_class = getattr(filter_, "field_class", None)
    if isinstance(field_class, type) and issubclass(field_class, forms.IntegerField) and name not in NOT_IDS:
        return "unclassified"
    return "value"


# --- cases ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One call of the matrix, with B's key. ``kind``:

    - ``a_row``: A's id in the URL (with a body valid but for that) → 404 in the error shape;
    - ``body_id``: one body field (``field``) holding A's id or reference, the rest B's → 400 naming
      it, or 404; never 2xx, nothing created;
    - ``identifier``: one body field holding A's phone/e-mail → anything but a 5xx, never A's data;
    - ``filter``: a list filtered by A's id (``field``) → an empty page or 400/404;
    - ``read``: the route as it is (B's row for a detail route) → never A's data.
    """

    route: Route
    method: str
    action: str
    kind: str
    field: str | None = None

    @property
    def id(self) -> str:
        name = f"{self.method.upper()} {self.route.path} {self.kind}"
        return f"{name} {self.field}" if self.field else name


def cases_for(route: Route) -> list[Case]:
    cases = []
    for method, action in route.actions:
        if route.detail:
            cases.append(Case(route, method, action, "a_row"))
        body = request_serializer(route, method)
        fields = body_fields(body) if body is not None else []
        for field in fields:
            if field.kind in ("id", "ids", "reference"):
                cases.append(Case(route, method, action, "body_id", field.path))
            elif field.kind == "identifier":
                cases.append(Case(route, method, action, "identifier", field.path))
        if method == "get":
            cases.append(Case(route, method, action, "read"))
            for name, filter_ in filters_of(route, method).items():
                if filter_kind(name, filter_) == "id":
                    cases.append(Case(route, method, action, "filter", name))
    return cases


def all_cases() -> list[Case]:
    return [case for route in api_routes() for case in cases_for(route)]


def unclassified_fields() -> list[str]:
    """Integer body fields and filters of any operation that are neither ids nor known not to be."""
    found = []
    for route in api_routes():
        for method, _action in route.actions:
            body = request_serializer(route, method)
            for field in body_fields(body) if body is not None else []:
                if field.kind == "unclassified":
                    found.append(f"{method.upper()} {route.path}: body field {field.path}")
            for name, filter_ in filters_of(route, method).items():
                if filter_kind(name, filter_) == "unclassified":
                    found.append(f"{method.upper()} {route.path}: filter {name}")
    return found
