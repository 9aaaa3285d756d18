"""Running the cross-tenant matrix's cases (tests/api/matrix_routes.py) with organisation B's key
against organisation A's rows, and what each answer must (not) be; plus the snapshot of every
tenant-scoped model's rows of A, taken before and after the whole matrix."""

from __future__ import annotations

import hashlib
import json

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled
from rest_framework import serializers
from rest_framework.parsers import JSONParser

from tests.api.matrix_routes import ID_FIELDS, Case, body_fields, filters_of, request_serializer, view_for
from tests.api.matrix_seed import Seed
from tests.tenancy import load_all

ERROR_KEYS = {"code", "message", "field", "details"}
# A value a field's own rules accept, where the first choice would be refused for another reason
# (tags need the "tags" source: without it the refusal would be about the source, not the id).
VALUE_OVERRIDES = {"audience.source": "tags"}
# Keys of a JSON answer naming a row of this model (A's pk under one of them is A's data).
ID_KEYS = {"contact": "contacts.contact", "channel": "messaging.channel",
           "conversation": "messaging.conversation", "questionnaire": "campaigns.questionnaire",
           "campaign": "campaigns.campaign"}


# --- snapshot --------------------------------------------------------------------------------
def snapshot(org) -> dict[str, tuple[int, int, str]]:
    """(count, max id, digest of the rows) of ``org``'s rows of every tenant-scoped model."""
    found = {}
    with scopes_disabled():  # test bookkeeping across models
        for label in sorted(load_all()):
            model = apps.get_model(label)
            rows = list(model.objects.filter(organization=org).order_by("pk").values_list())
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
            found[label] = (len(rows), max((r[0] for r in rows), default=0), digest)
    return found


# --- bodies ----------------------------------------------------------------------------------
def _value(field: serializers.Field):
    if isinstance(field, serializers.ChoiceField):
        return next(iter(field.choices))
    if isinstance(field, serializers.BooleanField):
        return True
    if isinstance(field, serializers.DateTimeField):
        return "2031-01-06T09:00:00Z"
    if isinstance(field, serializers.FileField):
        return SimpleUploadedFile("patients.csv", b"Phone,Insurer\n+14085550199,Acme\n", "text/csv")
    if isinstance(field, serializers.ListField):
        return [_value(field.child)]
    if isinstance(field, serializers.DictField):
        return {}
    if isinstance(field, serializers.IntegerField):
        return field.min_value or 1
    if isinstance(field, serializers.CharField):
        return "Matrix text"
    return "09:00"


def _reference(name: str, seed: Seed) -> str:
    assert name == "mapping", name
    return json.dumps({"Phone": "phone", "Insurer": f"custom:{seed['contacts.customfield'].key}"})


def _id_value(field, seed: Seed):
    if field.kind == "id":
        return seed.pk(field.target)
    if field.kind == "ids":
        return [seed.pk(field.target)]
    if field.kind == "reference":
        return _reference(field.target, seed)
    return getattr(seed[field.target], field.path.rsplit(".", 1)[-1])


def _put(body: dict, path: str, value) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        body = body.setdefault(parent, {})
    body[name] = value


def build_body(case: Case, a: Seed, b: Seed) -> dict | None:
    """A body valid for B but for ``case.field`` (A's id, reference or identifier): required values,
    every id of B, and the one field of A. None for operations without a body."""
    serializer = request_serializer(case.route, case.method)
    if serializer is None:
        return None
    body: dict = {}
    partial = case.method == "patch"
    for field in body_fields(serializer):
        if field.kind in ("id", "ids", "reference"):
            _put(body, field.path, _id_value(field, a if field.path == case.field else b))
        elif field.kind == "identifier":
            if field.path == case.field:  # lookups take exactly one: only the one of A
                _put(body, field.path, _id_value(field, a))
        elif field.required and not partial:
            _put(body, field.path, _value(field.field))
    for path, value in VALUE_OVERRIDES.items():
        if path.split(".")[0] in body:
            _put(body, path, value)
    return body


# --- calls -----------------------------------------------------------------------------------
def _path(case: Case, pk: int | None) -> str:
    return "/api/v1/" + case.route.path.replace("{pk}", str(pk))


def _query(case: Case, a: Seed, b: Seed) -> dict:
    """Required filters with B's ids, the filter under test with A's."""
    params = {}
    for name, filter_ in filters_of(case.route, case.method).items():
        if name == case.field or (filter_.extra.get("required") and name in ID_FIELDS):
            params[name] = (a if name == case.field else b).pk(ID_FIELDS[name])
    return params


def call(client, case: Case, a: Seed, b: Seed):
    model = case.route.viewset.model
    label = model._meta.label_lower if model is not None else None
    pk = None
    if case.route.detail:
        pk = (a if case.kind == "a_row" else b).pk(label)
    body = build_body(case, a, b)
    path = _path(case, pk)
    if case.method == "get":
        return client.get(path, _query(case, a, b))
    multipart = JSONParser not in view_for(case.route, case.method).parser_classes
    return getattr(client, case.method)(path, body or {}, format="multipart" if multipart else "json")


# --- checks ----------------------------------------------------------------------------------
def _walk(data, key=None):
    if isinstance(data, dict):
        for name, value in data.items():
            yield from _walk(value, name)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value, key)
    else:
        yield key, data


def leaks(response, case: Case, a: Seed) -> list[str]:
    """A's values and ids in the answer (but the value the case sent: a contact B creates with the
    same phone as A's is B's own, and echoed)."""
    text = b"".join(response.streaming_content) if response.streaming else response.content
    text = text.decode("utf-8", "replace")
    sent = getattr(a["contacts.contact"], case.field) if case.kind == "identifier" else None
    found = [f"A's value {marker!r}" for marker in a.markers if marker and marker != sent and marker in text]
    if response.get("Content-Type", "").startswith("application/json"):
        data = json.loads(text)
        for key, value in _walk(data):
            label = ID_KEYS.get(key)
            if label and label in a.rows and value == a.pk(label):
                found.append(f"A's {label} id under {key!r}")
        model = case.route.viewset.model
        label = model._meta.label_lower if model is not None else None
        if case.action == "list" and label in a.rows:
            ids = [row.get("id") for row in data.get("results", [])]
            if a.pk(label) in ids:
                found.append(f"A's {label} row listed")
    return found


def _error_shape(response) -> str | None:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "not the error shape"
    return None if set(error) == ERROR_KEYS else f"error keys {sorted(error)}"


def _names(response, field: str) -> bool:
    error = response.json()["error"]
    named = [error.get("field")] + [d.get("field") for d in error.get("details") or [] if isinstance(d, dict)]
    return any(n and (n == field or n.startswith((f"{field}.", f"{field}["))) for n in named)


def problems(case: Case, response, a: Seed) -> list[str]:
    """What is wrong with this answer for this case (nothing: an empty list)."""
    status = response.status_code
    found = []
    if status >= 500:
        return [f"{status} server error"]
    if case.kind == "a_row":
        if status != 404:
            found.append(f"{status}, not 404")
        elif (shape := _error_shape(response)) or response.json()["error"]["code"] != "not_found":
            found.append(shape or f"code {response.json()['error']['code']!r}")
    elif case.kind == "body_id":
        if status not in (400, 404):
            found.append(f"{status}, not 400/404")
        elif shape := _error_shape(response):
            found.append(shape)
        elif status == 400 and not _names(response, case.field):
            found.append(f"400 not naming {case.field}: {response.json()['error']}")
    elif case.kind == "filter":
        if status not in (200, 400, 404):
            found.append(f"{status}, not 200/400/404")
        elif status == 200 and response.json().get("results"):
            found.append(f"rows listed: {[r.get('id') for r in response.json()['results']]}")
    elif status >= 400 and (shape := _error_shape(response)):
        found.append(shape)
    if status < 500:
        found.extend(leaks(response, case, a))
    return found


def created_rows(case: Case, org) -> int:
    """Rows of the route's model in ``org`` (a refused write must not add one)."""
    model = case.route.viewset.model
    if model is None:
        return 0
    with scopes_disabled():
        return model.objects.filter(organization=org).count()
