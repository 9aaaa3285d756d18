"""Locate the shared provider samples and vectors (``../shared/providers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/fakes/shared_data.py → repo root → its parent holds shared/.
SHARED_PROVIDERS = Path(__file__).resolve().parents[2].parent / "shared" / "providers"


def shared_path(*parts: str) -> Path:
    """Path inside shared/providers; skips the calling test if the folder is absent."""
    if not SHARED_PROVIDERS.is_dir():
        pytest.skip(f"shared provider data not found at {SHARED_PROVIDERS}")
    return SHARED_PROVIDERS.joinpath(*parts)


def sample_bytes(name: str) -> bytes:
    """Raw bytes of ``samples/<name>``."""
    return shared_path("samples", name).read_bytes()


def vector_bytes(name: str) -> bytes:
    """Raw bytes of ``vectors/<name>`` (exact signed bodies: never re-serialise)."""
    return shared_path("vectors", name).read_bytes()
