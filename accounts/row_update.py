"""``save_fields(instance, [names])``: ``instance.save(update_fields=names)`` with the UPDATE's SQL
built once per model, field list and database.

Django compiles an update's SQL at every save: for the claim and the result of a send (every API
reply, every intake answer) and the intake session's save after each answer, compiling was about
three quarters of the save. Here the statement for a (model, fields, database) is kept; each call
does what ``Model.save(update_fields=…)`` does for an existing row, in the same order: the
``pre_save`` signal, each field's ``pre_save`` (``auto_now`` times; encrypted fields seal their
value there) and ``get_db_prep_save``, one UPDATE by primary key through the base manager (as
Django's own save, the tenant scope does not filter it: the row was read in scope), the
``post_save`` signal with ``created=False``, and "did not affect any rows" as a DatabaseError.

Expressions (``F("attempts") + 1``) are not taken: they need Django's compiler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

_sql: dict[tuple[type[Model], tuple[str, ...], str], tuple[str, tuple, frozenset | None]] = {}
_lock = threading.Lock()


def save_fields(instance: Model, names: Iterable[str] | None = None) -> None:
    """Store ``names`` (every concrete field but the primary key when None) of a saved row."""
    model = type(instance)
    using = instance._state.db or router.db_for_write(model, instance=instance)
    key = (model, tuple(names) if names is not None else (), using)
    sql, fields, update_fields = _sql.get(key) or _statement(key)
    origin = model._meta.concrete_model
    pre_save.send(sender=origin, instance=instance, raw=False, using=using, update_fields=update_fields)
    connection = connections[using]
    values = []
    for field in fields:
        if hasattr(getattr(instance, field.attname), "resolve_expression"):
            raise TypeError(f"save_fields stores values, not expressions ({field.name}): use save()")
        values.append(field.get_db_prep_save(field.pre_save(instance, False), connection=connection))
    values.append(instance.pk)
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, values)
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    instance._state.adding = False
    instance._state.db = using
    post_save.send(sender=origin, instance=instance, created=False, update_fields=update_fields,
                   raw=False, using=using)


def _statement(key: tuple[type[Model], tuple[str, ...], str]) -> tuple[str, tuple, frozenset | None]:
    model, names, using = key
    meta = model._meta
    if names:
        fields = tuple(meta.get_field(name) for name in names)
        wrong = [f.name for f in fields
                 if not f.concrete or f.primary_key or f.model is not meta.concrete_model]
        if wrong:
            raise ValueError(f"save_fields: not a column of {meta.label}'s own table: {', '.join(wrong)}")
    else:
        fields = tuple(f for f in meta.local_concrete_fields if not f.primary_key)
    quote = connections[using].ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Names from the model's own metadata, quoted; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    with _lock:  # as Django's save: the names given, or None for every field
        return _sql.setdefault(key, (sql, fields, frozenset(names) if names else None))
