"""The plan PostgreSQL keeps for a prepared statement when it plans once for every run (a generic
plan): statements are prepared on their connection (DB_PREPARED_STATEMENTS), and such a plan can
use a partial index only when the statement writes the index's condition out."""

from __future__ import annotations

from django.db import connection, transaction
from psycopg import sql as pg


def generic_plan(sql: str, params) -> str:
    """EXPLAIN of ``sql`` (Django's ``%s`` placeholders) under ``force_generic_plan``. Sequential
    scans are off: a test's few rows would be scanned whatever the indexes."""
    parts = sql.split("%s")
    numbered = "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE plan_probe AS {numbered}")
        try:
            values = ", ".join(pg.Literal(value).as_string(connection.connection) for value in params)
            cursor.execute(f"EXPLAIN EXECUTE plan_probe({values})" if params
                           else "EXPLAIN EXECUTE plan_probe")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE plan_probe")
