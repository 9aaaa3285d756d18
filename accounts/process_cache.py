"""Values a process may reuse for a few seconds, dropped at once when what they came from changes.

For reads every request repeats (a webhook's channel, the API budget of a plan): a hit costs a
dict lookup instead of an ORM read. Entries live ``ttl()`` seconds; a change in this process drops
them at once and again on commit (signals fire inside the writer's transaction, while another
thread may still read and keep the old committed row), and other processes follow within the
lifetime. A read that began before a change does not store what it read. ``None`` is never kept
(unknown keys must not fill memory; refusals are asked again), nor what a caller's ``keep`` says
must be asked again.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

_EVERYTHING = object()


def _is_not_none(value: Any) -> bool:
    return value is not None


class ProcessCache:
    _instances: weakref.WeakSet[ProcessCache] = weakref.WeakSet()

    @classmethod
    def forget_everywhere(cls) -> None:
        """Drop every entry of every cache of this process (tests: a rolled-back change)."""
        for cache in list(cls._instances):
            cache.forget()

    def __init__(self, ttl: Callable[[], float], max_entries: int = 10_000) -> None:
        ProcessCache._instances.add(self)
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()  # gthread workers share the dict
        self._generation = 0  # bumped by every change

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, read: Callable[[], Any],
            keep: Callable[[Any], bool] = _is_not_none) -> Any:
        """The value kept for ``key``, else ``read()``: kept when ``keep(value)`` (by default,
        unless it is None) and the cache is on; returned either way."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = read()
        ttl = self._ttl()
        if ttl > 0 and keep(value):
            with self._lock:
                if generation == self._generation:  # else a change began meanwhile
                    if len(self._entries) >= self._max_entries:
                        self._entries.clear()
                    self._entries[key] = (now + ttl, value)
        return value

    def peek(self, key: Hashable) -> Any:
        """The value kept for ``key`` if it is still live, else None (nothing is read)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def forget(self, key: Hashable = _EVERYTHING) -> None:
        """Drop ``key``'s entry (every entry when no key is given)."""
        with self._lock:
            self._generation += 1
            if key is _EVERYTHING:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def forget_now_and_on_commit(self, key: Hashable = _EVERYTHING) -> None:
        """What a model signal calls: drop now, and again once the change is visible."""
        self.forget(key)
        transaction.on_commit(partial(self.forget, key))

    def forget_when_changed(self, model, key: Callable[[Any], Hashable] | None = None) -> None:
        """Whenever a ``model`` row is saved or deleted in this process, drop ``key(row)``'s entry
        (every entry without ``key``), now and on commit."""
        def changed(sender, instance, **kwargs) -> None:
            self.forget_now_and_on_commit(_EVERYTHING if key is None else key(instance))

        uid = f"process_cache.{id(self)}.{model._meta.label_lower}"
        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid)
