"""Writing a chunk of outbound messages in one statement: ``INSERT … ON CONFLICT DO NOTHING`` on the
unique (channel, idempotency key), so a key stored by a concurrent caller is skipped, not an error;
the stored messages' conversations get their last-message time in the same statement (a
data-modifying CTE; SQLite runs a second one).

PostgreSQL gets one parameter per *column*: the varying columns as arrays expanded by ``unnest``
and the chunk's constants as scalars — a handful of parameters whatever the chunk size, so the
driver has no 27,000-placeholder statement to parse (that parse alone cost more than the insert).
The embedded SQLite database gets a multi-row ``VALUES`` list. Values arrive ready for the
database: encrypted columns as ciphertext, sealed by the caller with the bulk ``Sealer``.
"""

from __future__ import annotations

from typing import Any

from messaging.models import Conversation, Message

_FIELDS = [f for f in Message._meta.concrete_fields if not f.primary_key]
_TABLE = Message._meta.db_table
_COLUMNS = ", ".join(f.column for f in _FIELDS)
# The columns that differ per row, in the order of the tuples ``insert_rows`` receives.
ROW_FIELDS = ("conversation_id", "contact_id", "remote_address", "remote_address_index", "body", "payload",
              "segments", "encoding", "idempotency_key")
_BY_NAME = {f.attname: f for f in _FIELDS}
_ROW_INDEX = {name: n for n, name in enumerate(ROW_FIELDS)}
_CONFLICT = ("ON CONFLICT (channel_id, idempotency_key) WHERE NOT (idempotency_key = '') DO NOTHING "
             "RETURNING id, idempotency_key")
_MAX_PARAMETERS = 30_000  # below SQLite's 32,766 bound parameters


_UNNEST_SQL: dict[str, tuple[str, list[str]]] = {}  # per database alias: (statement, constants it selects)


def _db_type(field, connection) -> str:
    # Encrypted fields report "text" (they hold ciphertext); foreign keys report their target's type.
    return field.db_type(connection)


def _unnest_sql(connection) -> tuple[str, list[str]]:
    """The statement and the constants it binds, built once per database (asking each field its
    type was a quarter of a single reply's insert)."""
    built = _UNNEST_SQL.get(connection.alias)
    if built is None:
        select, names = [], []
        for f in _FIELDS:
            if f.attname in _ROW_INDEX:
                select.append(f"r.{f.column}")
            else:
                select.append(f"%s::{_db_type(f, connection)}")
                names.append(f.attname)
        arrays = ", ".join(f"%s::{_db_type(_BY_NAME[name], connection)}[]" for name in ROW_FIELDS)
        aliases = ", ".join(_BY_NAME[name].column for name in ROW_FIELDS)
        conversations = Conversation._meta.db_table
        # One round trip for the rows and their conversations' last-message time (data-modifying
        # CTEs); ids come from the sequence in insert order, so ORDER BY id keeps the rows' order.
        sql = (f"WITH m AS (INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608 - names from model metadata
               f"SELECT {', '.join(select)} FROM unnest({arrays}) WITH ORDINALITY AS r({aliases}, n) "
               f"ORDER BY r.n {_CONFLICT}, conversation_id), "
               f"c AS (UPDATE {conversations} SET last_message_at = %s WHERE organization_id = %s "
               f"AND id IN (SELECT conversation_id FROM m)) "
               f"SELECT id, idempotency_key FROM m ORDER BY id")
        built = _UNNEST_SQL[connection.alias] = (sql, names)
    return built


def insert_rows(connection, constants: dict[str, Any], rows: list[tuple]) -> list[tuple[int, str]]:
    """Insert ``rows`` (ROW_FIELDS tuples) with ``constants`` (every other column) and set the
    last-message time of the conversations of the rows stored to their ``created_at``; returns
    (id, idempotency key) of the rows stored, in the order given (rows whose key existed are absent)."""
    if not rows:
        return []
    prepared = {name: (None if value is None else _BY_NAME[name].get_db_prep_save(value, connection))
                for name, value in constants.items()}
    if connection.vendor == "postgresql":
        return _insert_unnest(connection, prepared, rows)
    return _insert_embedded(connection, prepared, rows)


def _insert_embedded(connection, constants: dict[str, Any], rows: list[tuple]) -> list[tuple[int, str]]:
    """SQLite (``make run``): the VALUES insert, then the stored rows' conversations."""
    stored = _insert_values(connection, constants, rows)
    positions = match_ids([row[_ROW_INDEX["idempotency_key"]] for row in rows], stored)
    conversations = sorted({rows[n][_ROW_INDEX["conversation_id"]] for n in positions} - {None})
    if conversations:
        touch_conversations(connection, constants["organization_id"], conversations, constants["created_at"])
    return stored


def _insert_unnest(connection, constants: dict[str, Any], rows: list[tuple]) -> list[tuple[int, str]]:
    sql, names = _unnest_sql(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(constants.get(name) for name in names),
                             *(list(column) for column in zip(*rows, strict=True)),
                             constants["created_at"], constants["organization_id"]])  # for the update
        return cursor.fetchall()


def _insert_values(connection, constants: dict[str, Any], rows: list[tuple]) -> list[tuple[int, str]]:
    per_row = len(_FIELDS)
    row_sql = f"({', '.join(['%s'] * per_row)})"
    per_statement = max(1, _MAX_PARAMETERS // per_row)
    returned: list[tuple[int, str]] = []
    with connection.cursor() as cursor:
        for first in range(0, len(rows), per_statement):
            batch = rows[first:first + per_statement]
            params: list = []
            for row in batch:
                params += [row[_ROW_INDEX[f.attname]] if f.attname in _ROW_INDEX else constants.get(f.attname)
                           for f in _FIELDS]
            cursor.execute(f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES "  # noqa: S608 - as above
                           f"{', '.join([row_sql] * len(batch))} {_CONFLICT}", params)
            returned += cursor.fetchall()
    return returned


def touch_conversations(connection, organization_id: int, conversation_ids: list[int], when) -> None:
    """Set the conversations' last-message time to ``when`` (ready for the database), bound to the
    organisation as the scoped manager would: SQLite's second statement (PostgreSQL's is the
    insert's own CTE)."""
    table = Conversation._meta.db_table
    placeholders = ", ".join(["%s"] * len(conversation_ids))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET last_message_at = %s "  # noqa: S608 - names from model metadata
                       f"WHERE organization_id = %s AND id IN ({placeholders})",
                       [when, organization_id, *conversation_ids])


def match_ids(keys: list[str], returned: list[tuple[int, str]]) -> dict[int, int]:
    """{position in ``keys``: new id}. A key's row belongs to its first occurrence; a key stored
    before (by a concurrent caller) or repeated has no new row. Keyless rows never conflict, so
    they come back in order."""
    if len(returned) == len(keys):
        return {n: pk for n, (pk, _) in enumerate(returned)}
    by_key = {key: pk for pk, key in returned if key}
    keyless = iter(pk for pk, key in returned if not key)
    found: dict[int, int] = {}
    for n, key in enumerate(keys):
        pk = by_key.pop(key, None) if key else next(keyless, None)
        if pk is not None:
            found[n] = pk
    return found
