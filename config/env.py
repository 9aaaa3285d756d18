"""Typed environment helpers: every setting comes from the environment, secrets may come from files.

`NAME_FILE=/run/secrets/name` is read instead of `NAME` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

env = environ.Env()


def secret(name: str, default: str | None = None) -> str | None:
    """Return the secret `name`, preferring the file named by `NAME_FILE` when set."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)
