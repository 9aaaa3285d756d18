"""Hot single-row writes whose SQL is built once per model (and field list) and database:
``save_fields(instance, [names])`` is ``instance.save(update_fields=names)``, ``create_row(Model,
**values)`` is ``Model.objects.create(**values)``.

Django compiles an update's SQL at every save: for the claim and the result of a send (every API
reply, every intake answer) and the intake session's save after each answer, compiling was about
three quarters of the save. Here the statement for a (model, fields, database) is kept; each call
does what ``Model.save(update_fields=…)`` does for an existing row, in the same order: the
``pre_save`` signal, each field's ``pre_save`` (``auto_now`` times; encrypted fields seal their
value there) and ``get_db_prep_save``, one UPDATE by primary key through the base manager (as
Django's own save, the tenant scope does not filter it: the row was read in scope), the
``post_save`` signal with ``created=False``, and "did not affect any rows" as a DatabaseError.

``create_row`` likewise: the ``pre_save`` signal, each field's ``pre_save`` with ``add=True``
(``auto_now_add``; encryption), one INSERT of every local column but an unset auto primary key,
the key read back, ``post_save`` with ``created=True``. Measured on the inbound webhook: Django
compiled the message's 28-column INSERT at every message.

Expressions (``F("attempts") + 1``) and database defaults are not taken: they need Django's
compiler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.db import DatabaseError, connections, router, transaction
from django.db.models import NOT_PROVIDED, Model
from django.db.models.signals import post_save, pre_save

# (model, field names, database) → (UPDATE, fields, update_fields); (model, database) → (INSERT, fields)
_sql: dict[tuple[type[Model], tuple[str, ...] | None, str], tuple[str, tuple, frozenset | None]] = {}
_inserts: dict[tuple[type[Model], str], tuple[str, tuple]] = {}
_lock = threading.Lock()


def save_fields(instance: Model, names: Iterable[str] | None = None) -> None:
    """Store ``names`` (every concrete field but the primary key when None) of a saved row; no
    names, as ``save(update_fields=[])``, stores nothing."""
    model = type(instance)
    names = tuple(names) if names is not None else None
    if names == ():
        return
    using = instance._state.db or router.db_for_write(model, instance=instance)
    key = (model, names, using)
    sql, fields, update_fields = _sql.get(key) or _statement(key)
    pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=update_fields)
    values = [*_column_values(instance, fields, using, add=False), instance.pk]
    with transaction.mark_for_rollback_on_error(using), connections[using].cursor() as cursor:
        cursor.execute(sql, values)
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    instance._state.adding = False
    instance._state.db = using
    post_save.send(sender=model, instance=instance, created=False, update_fields=update_fields,
                   raw=False, using=using)


def create_row(model: type[Model], **values) -> Model:
    """``model.objects.create(**values)`` (a model without parents) with its INSERT built once."""
    instance = model(**values)
    using = router.db_for_write(model, instance=instance)
    meta = model._meta
    if meta.auto_field is not None and getattr(instance, meta.auto_field.attname) is not None:
        raise ValueError("create_row: the database gives the primary key; use create() to set one")
    sql, fields = _inserts.get((model, using)) or _insert_statement(model, using)
    pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=None)
    params = _column_values(instance, fields, using, add=True)
    with transaction.mark_for_rollback_on_error(using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        pk = cursor.fetchone()[0]
    setattr(instance, meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = using
    post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False, using=using)
    return instance


def _column_values(instance: Model, fields: tuple, using: str, *, add: bool) -> list:
    """Each field's value as the database takes it, after its ``pre_save`` (as ``save()`` does)."""
    connection = connections[using]
    values = []
    for field in fields:
        if hasattr(getattr(instance, field.attname), "resolve_expression"):
            raise TypeError(f"stores values, not expressions ({field.name}): use save() or create()")
        values.append(field.get_db_prep_save(field.pre_save(instance, add), connection=connection))
    return values


def _insert_statement(model: type[Model], using: str) -> tuple[str, tuple]:
    meta = model._meta
    if meta.parents or not connections[using].features.can_return_columns_from_insert:
        raise ValueError(f"create_row: {meta.label} has parent models, or the database returns no keys")
    fields = tuple(f for f in meta.local_concrete_fields if f is not meta.auto_field)
    defaulted = [f.name for f in fields if f.db_default is not NOT_PROVIDED]
    if defaulted:
        raise ValueError(f"create_row: {meta.label} has database defaults ({', '.join(defaulted)}): "
                         "use create()")
    quote = connections[using].ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    # Names from the model's own metadata, quoted; every value is a parameter.
    sql = (f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}")
    with _lock:
        return _inserts.setdefault((model, using), (sql, fields))


def _statement(key: tuple[type[Model], tuple[str, ...] | None, str]) -> tuple[str, tuple, frozenset | None]:
    model, names, using = key
    meta = model._meta
    if names is not None:
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
        return _sql.setdefault(key, (sql, fields, frozenset(names) if names is not None else None))
