"""Row makers for the tenancy guard: one per tenant-scoped model, registered per app.

Each app's tests folder has a `tenancy_rows.py` that registers, for every scoped model of
the app, a function making one row for an organisation (inside that organisation's scope).
tests/test_tenancy.py fails for any scoped model without a maker.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

ROW_MAKERS: dict[str, Callable] = {}


def row_maker(label: str):
    """Register `fn(organization) -> instance` for the model `app_label.modelname`."""

    def decorator(fn):
        ROW_MAKERS[label] = fn
        return fn

    return decorator


def load_all() -> dict[str, Callable]:
    import tests

    for info in pkgutil.iter_modules(tests.__path__):
        if info.ispkg:
            try:
                importlib.import_module(f"tests.{info.name}.tenancy_rows")
            except ModuleNotFoundError as exc:
                if exc.name != f"tests.{info.name}.tenancy_rows":
                    raise
    return ROW_MAKERS
