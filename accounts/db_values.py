"""One UPDATE that gives each row its own value: ``queryset.update(field=ByPk(values, field))``.

Django's way, ``Case(When(pk=…, then=…), …)`` or ``bulk_update``, resolves a ``Q`` for every row
in Python: for the 500 rows of a campaign chunk that was a quarter of a worker's time. On
PostgreSQL this is two array parameters and an index into one of them (no SQL grows with the
rows); elsewhere (the embedded SQLite) a plain ``CASE pk WHEN … THEN …`` without the ``Q``
machinery. The queryset's own filters (tenant scope included) still pick the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Expression, F, Field


class ByPk(Expression):
    """The value ``values[row.pk]`` for each updated row (a pk missing from it gets NULL)."""

    def __init__(self, values: Mapping[int, Any], output_field: Field) -> None:
        super().__init__(output_field=output_field)
        self.values = dict(values)
        self.pk: Any = F("pk")

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        resolved = self.copy()
        resolved.pk = self.pk.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return resolved

    def _prepared(self, connection) -> tuple[list[int], list[Any]]:
        prep = self.output_field.get_db_prep_value
        return ([int(pk) for pk in self.values],
                [prep(value, connection, prepared=False) for value in self.values.values()])

    def as_sql(self, compiler, connection):
        pk_sql, pk_params = compiler.compile(self.pk)
        pks, values = self._prepared(connection)
        if not pks:
            return "NULL", []
        whens = " ".join(["WHEN %s THEN %s"] * len(pks))
        return f"CASE {pk_sql} {whens} END", [*pk_params, *(p for pair in zip(pks, values, strict=True)
                                                           for p in pair)]

    def as_postgresql(self, compiler, connection):
        pk_sql, pk_params = compiler.compile(self.pk)
        pks, values = self._prepared(connection)
        db_type = self.output_field.cast_db_type(connection)
        return (f"(%s::{db_type}[])[array_position(%s::bigint[], ({pk_sql})::bigint)]",
                [values, pks, *pk_params])
