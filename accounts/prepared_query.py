"""A hot read whose SQL is compiled once per process; each call binds its own values.

Django builds and compiles a queryset's SQL on every evaluation. For the reads every intake
answer and every API reply repeats (a five-table join with a subquery; a three-table join) that
compilation was most of their cost: 80 % of ``active_session``, a fifth of an answer's CPU.
``PreparedQuery`` builds the queryset once with stand-in integer values, keeps the compiled SQL
and the positions of the stand-ins among its parameters, and from then on executes that SQL
with the call's values and loads the rows as Django's ``ModelIterable`` would (``from_db``,
``select_related`` populators, annotations, field converters such as decryption).

Tenancy: a scoped manager filters by the current django-scopes scope. The template is built
under a stand-in organisation too, and every call binds the organisation of the scope it runs
in; a call with no scope raises ScopeError exactly as the queryset would. A scope of another
shape (several organisations, ``None``) runs the ordinary queryset.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django_scopes import ScopeError, get_scope, scope

# Stand-ins no row has: far below any id PostgreSQL's sequences hand out.
_STAND_IN = -7_300_000_000
_ORGANIZATION_STAND_IN = _STAND_IN
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1  # PostgreSQL's bigint


@dataclass(frozen=True)
class _Template:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (parameter position, value name)
    using: str
    model: type[Model]
    columns: int
    converters: tuple[tuple[int, tuple, Any], ...]  # (column, converters, expression)
    init_list: tuple[str, ...]
    model_slice: slice
    populators: tuple
    annotations: tuple[tuple[str, int], ...]


class PreparedQuery:
    """``PreparedQuery(lambda contact_id, channel_id: Model.objects.filter(...)[:1], "contact_id",
    "channel_id")``; ``.first(contact_id=…, channel_id=…)`` runs it. Values are integers, and the
    queryset may depend on nothing but them (a ``now()`` inside it would be compiled in for good)."""

    def __init__(self, build: Callable[..., QuerySet], *names: str) -> None:
        self._build = build
        self._names = names
        self._templates: dict[str, _Template] = {}  # "scoped" / "unscoped"
        self._lock = threading.Lock()

    def first(self, **values: int) -> Model | None:
        return next(iter(self.all(**values)), None)

    def all(self, **values: int) -> list[Model]:
        if set(values) != set(self._names):
            raise TypeError(f"expected values for {', '.join(self._names)}")
        bound = {name: int(value) for name, value in values.items()}
        if any(not _MIN_ID <= value <= _MAX_ID for value in bound.values()):
            return []  # no row has such an id (Django's own lookups answer "nothing" too)
        mode = _scope_mode()
        if mode is None:  # a scope this helper does not prepare for: the ordinary path
            return list(self._build(**bound))
        kind, organization_id = mode
        template = self._template(kind)
        if organization_id is not None:
            bound["__organization__"] = organization_id
        params = list(template.params)
        for position, name in template.slots:
            params[position] = bound[name]
        return self._load(template, params)

    # --- building ---------------------------------------------------------------------------
    def _template(self, kind: str) -> _Template:
        template = self._templates.get(kind)
        if template is None:
            with self._lock:
                template = self._templates.get(kind) or self._compile(kind)
                self._templates[kind] = template
        return template

    def _compile(self, kind: str) -> _Template:
        stand_ins = {name: _STAND_IN - 1 - n for n, name in enumerate(self._names)}
        if kind == "scoped":
            with scope(organization=_ORGANIZATION_STAND_IN):
                queryset = self._build(**stand_ins)
            stand_ins["__organization__"] = _ORGANIZATION_STAND_IN
        else:
            queryset = self._build(**stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        by_value = {value: name for name, value in stand_ins.items()}
        slots = tuple((n, by_value[p]) for n, p in enumerate(params) if isinstance(p, int) and p in by_value)
        missing = set(stand_ins) - {name for _, name in slots}
        if missing:  # a value the SQL does not carry as a parameter: refuse rather than guess
            raise ValueError(f"prepared query: {', '.join(sorted(missing))} not found among its parameters")
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        converters = compiler.get_converters([column[0] for column in select[:compiler.col_count]])
        return _Template(
            sql=sql, params=tuple(params), slots=slots, using=queryset.db, model=klass_info["model"],
            columns=compiler.col_count,
            converters=tuple((n, tuple(convs), expression) for n, (convs, expression) in converters.items()),
            init_list=tuple(f[0].target.attname for f in select[fields[0]:fields[-1] + 1]),
            model_slice=slice(fields[0], fields[-1] + 1),
            populators=tuple(get_related_populators(klass_info, select, queryset.db)),
            annotations=tuple((compiler.annotation_col_map or {}).items()))

    # --- running ----------------------------------------------------------------------------
    @staticmethod
    def _load(template: _Template, params: list) -> list[Model]:
        # This thread's connection (a compiler keeps the one it was made with).
        connection = connections[template.using]
        with connection.cursor() as cursor:
            cursor.execute(template.sql, params)
            rows = cursor.fetchall()
        loaded = []
        for fetched in rows:
            row = list(fetched[:template.columns])
            for position, converters, expression in template.converters:
                value = row[position]
                for convert in converters:
                    value = convert(value, expression, connection)
                row[position] = value
            obj = template.model.from_db(template.using, template.init_list, row[template.model_slice])
            for populator in template.populators:
                populator.populate(row, obj)
            for attr, position in template.annotations:
                setattr(obj, attr, row[position])
            loaded.append(obj)
        return loaded


def _scope_mode() -> tuple[str, int | None] | None:
    """("scoped", organisation id), ("unscoped", None), or None for a scope of another shape.
    No scope at all raises ScopeError, as the scoped manager's queryset would when read."""
    current = get_scope()
    if not current.get("_enabled", True):
        return "unscoped", None
    if "organization" not in current:
        raise ScopeError("A scope on dimension(s) organization needs to be active for this query.")
    if set(current) - {"organization", "_enabled"}:
        return None
    value = current["organization"]
    if value is None or isinstance(value, list | tuple):
        return None
    return "scoped", int(getattr(value, "pk", value))
