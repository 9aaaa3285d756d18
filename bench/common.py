"""Helpers shared by the benchmarks."""

from __future__ import annotations

from urllib.parse import urlparse


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist (never touches any other database)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
