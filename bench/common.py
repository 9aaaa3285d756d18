"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse


def process_tree(pid: int) -> list[int]:
    """``pid`` and its direct children (Linux /proc; just ``pid`` elsewhere)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *map(int, children.read_text().split())] if children.exists() else [pid]


def host_busy_seconds() -> float:
    """CPU time the whole host has spent busy (every core, every process; Linux /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def host_loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (5,000,000 squares summed). The 2-core hosts here
    are shared and uneven: in one session such a loop took half as long again in one hour as in
    another, and every figure moved with it. Printed at a bench's start and end, it says which
    period a run saw: compare runs with similar figures (or against a peer measured in the run)."""
    started, total = time.process_time(), 0
    for n in range(5_000_000):
        total += n * n
    return (time.process_time() - started) * 1000


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist (never touches any other database)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def on_paid_plan(organization, code: str = "enterprise") -> None:
    """Bench set-up: the organisation on an active paid plan, so billing meters (as in production)
    but never refuses a 100,000-message batch the way a trial's allowance would."""
    from django_scopes import scopes_disabled

    from billing.models import Plan
    from billing.services import subscription_for

    with scopes_disabled():
        subscription = subscription_for(organization.pk)
        subscription.plan, subscription.status = Plan.objects.get(code=code), "active"
        subscription.save(update_fields=["plan", "status"])


class Autoanalyze:
    """ANALYZE ``tables`` every ``every`` seconds in a thread, as autovacuum does in production (it
    is off on this host). Statements are prepared on their connections (DB_PREPARED_STATEMENTS) and
    PostgreSQL may keep one plan for all their runs: chosen while a bench's tables were still
    empty, that plan walked the messages table for a 100-row claim until an ANALYZE replanned it.
    The campaign and intake benches both use it."""

    def __init__(self, tables: str, every: float = 5.0):
        import threading

        self.tables, self.every = tables, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.every):
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(f"ANALYZE {self.tables}")
                except Exception as error:  # a lost ANALYZE must not end the others
                    print(f"analyze_error={type(error).__name__}: {error}", file=sys.stderr)
        finally:
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
