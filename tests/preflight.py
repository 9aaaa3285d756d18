"""`make test` preflight: PostgreSQL and Redis must answer, or one clear sentence says how to start them."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

HOW_TO_START = {
    "PostgreSQL": "start it with: "
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "start it with: "
    "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
}


def reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return host, port, True
    except OSError:
        return host, port, False


def main() -> int:
    checks = [
        ("PostgreSQL", os.environ.get("DATABASE_URL", ""), 5432),
        ("Redis", os.environ.get("REDIS_URL", ""), 6379),
    ]
    for name, url, port in checks:
        if not url:
            variable = "DATABASE_URL" if name == "PostgreSQL" else "REDIS_URL"
            print(f"The test suite needs {name}: set {variable}.")
            return 1
        host, port, ok = reachable(url, port)
        if not ok:
            print(f"{name} is not reachable at {host}:{port}; {HOW_TO_START[name]}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
