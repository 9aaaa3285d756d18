"""The provider samples and signing vectors the tests run against, carried in the repository.

They are copies of the provider reference material (``tests/fakes/data/samples`` and
``tests/fakes/data/vectors``): tests read nothing outside the repository. A missing file is
a broken checkout, so it fails the test that asked for it — it never skips.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


class MissingFixtureError(FileNotFoundError):
    """A provider fixture the tests need is not in tests/fakes/data."""


def shared_path(*parts: str) -> Path:
    """Path inside tests/fakes/data; raises MissingFixtureError when it does not exist."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise MissingFixtureError(f"provider fixture missing: {path.relative_to(DATA_DIR.parent)}")
    return path


def sample_bytes(name: str) -> bytes:
    """Raw bytes of ``samples/<name>``."""
    return shared_path("samples", name).read_bytes()


def vector_bytes(name: str) -> bytes:
    """Raw bytes of ``vectors/<name>`` (exact signed bodies: never re-serialise)."""
    return shared_path("vectors", name).read_bytes()
