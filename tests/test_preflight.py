"""`make test` stops with one clear sentence when PostgreSQL or Redis is unreachable."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def preflight(**env):
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "tests.preflight"], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=30)


def test_it_passes_when_both_services_answer():
    result = preflight()
    assert result.returncode == 0, result.stdout


def test_it_names_postgresql_and_how_to_start_it_when_it_is_down():
    result = preflight(DATABASE_URL="postgres://postgres@127.0.0.1:1/carerelay")
    assert result.returncode == 1
    assert result.stdout.strip().count("\n") == 0  # one sentence
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stdout
    assert "pg_ctlcluster" in result.stdout


def test_it_names_redis_and_how_to_start_it_when_it_is_down():
    result = preflight(REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "Redis is not reachable at 127.0.0.1:1" in result.stdout and "redis-server" in result.stdout
