"""Backends registered by key; adding a provider is adding one module to this package.

Every public module of ``messaging.providers`` is imported on first lookup, so a new
``messaging/providers/acme.py`` decorated with ``@register("acme")`` is found without
editing a list anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from messaging.providers.base import ProviderBackend
from messaging.providers.declaration import ProviderDeclaration

BackendClass = TypeVar("BackendClass", bound=type[ProviderBackend])

_classes: dict[str, type[ProviderBackend]] = {}
_instances: dict[tuple[str, tuple[tuple[str, Any], ...]], ProviderBackend] = {}
_lock = threading.Lock()
_discovered = False


class UnknownProviderError(LookupError):
    """No backend is registered under the requested key."""


def register(key: str) -> Callable[[BackendClass], BackendClass]:
    """Class decorator: register a ``ProviderBackend`` subclass under ``key``."""

    def decorator(cls: BackendClass) -> BackendClass:
        existing = _classes.get(key)
        # Re-registering the same class (a module imported twice) is harmless.
        same = existing is not None and (existing.__module__, existing.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if existing is not None and not same:
            raise ValueError(f"provider key {key!r} is already registered")
        if not isinstance(getattr(cls, "declaration", None), ProviderDeclaration):
            raise TypeError(f"provider {key!r} must declare itself (a ProviderDeclaration)")
        cls.key = key
        _classes[key] = cls
        return cls

    return decorator


def _discover() -> None:
    """Import every public module of this package so their @register calls run."""
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("messaging.providers")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"messaging.providers.{module.name}")
    _discovered = True


def backend_class(key: str) -> type[ProviderBackend]:
    """Return the class registered under ``key``."""
    with _lock:
        _discover()
    try:
        return _classes[key]
    except KeyError:
        raise UnknownProviderError(f"no provider backend registered as {key!r}") from None


def get_backend(key: str, **options: Any) -> ProviderBackend:
    """Return a backend instance for ``key``, shared per set of constructor ``options``.

    Options are the backend constructor's keyword arguments, e.g.
    ``get_backend("twilio", api_base_url=settings.TWILIO_API_BASE_URL)``.
    """
    cls = backend_class(key)
    cache_key = (key, tuple(sorted(options.items())))
    with _lock:
        backend = _instances.get(cache_key)
        if backend is None:
            backend = _instances[cache_key] = cls(**options)
    return backend


def get_configured_backend(key: str) -> ProviderBackend:
    """``get_backend(key)`` pointed at the URL in the backend's Django setting, if any.

    Each backend names its setting (``base_url_setting``, e.g. TWILIO_API_BASE_URL), so
    this glue needs no per-provider branch. Imports Django lazily.
    """
    from django.conf import settings

    cls = backend_class(key)
    base_url = getattr(settings, cls.base_url_setting, None) if cls.base_url_setting else None
    return get_backend(key, api_base_url=base_url) if base_url else get_backend(key)


def available_backends() -> list[str]:
    """Registered provider keys, sorted (e.g. for a Channel ``provider`` choice list)."""
    with _lock:
        _discover()
    return sorted(_classes)


def unregister(key: str) -> None:
    """Forget the backend registered under ``key`` (tests that register a provider of their own)."""
    with _lock:
        _classes.pop(key, None)
        for cache_key in [k for k in _instances if k[0] == key]:
            del _instances[cache_key]


def is_registered(key: str) -> bool:
    """Whether a backend is registered under ``key``."""
    with _lock:
        _discover()
    return key in _classes


def declaration_of(key: str) -> ProviderDeclaration:
    """The declaration of the provider registered under ``key`` (``UnknownProviderError`` if none)."""
    return backend_class(key).declaration


def declarations() -> list[tuple[str, ProviderDeclaration]]:
    """Every registered provider with its declaration, in "add a channel" order."""
    with _lock:
        _discover()
        found = [(key, cls.declaration) for key, cls in _classes.items()]
    return sorted(found, key=lambda item: (item[1].order, item[1].label, item[0]))


def provider_choices() -> list[tuple[str, str]]:
    """(key, label) of every registered provider, in "add a channel" order."""
    return [(key, declared.label) for key, declared in declarations()]


def default_provider_key() -> str:
    """The provider a fresh installation starts with (the one declared ``embedded_default``)."""
    defaults = [key for key, declared in declarations() if declared.embedded_default]
    if len(defaults) != 1:
        raise LookupError("exactly one provider must declare embedded_default=True")
    return defaults[0]


def keys_playing_patient_in_browser() -> list[str]:
    """Providers whose channels the Simulator page drives (the patient is a web page)."""
    return [key for key, declared in declarations() if declared.plays_patient_in_browser]
