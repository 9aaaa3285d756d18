"""Each pytest-xdist worker gets a Redis database of its own (a ``-p`` plugin: loaded before
Django reads its settings).

Tests clear the cache (``cache.clear()`` is FLUSHDB) and count throttle windows and send slots
in Redis; workers sharing one database cleared each other's state mid-test. Worker ``gwN``
uses the configured database + N; a serial run is unchanged.
"""

from __future__ import annotations

import os
import re


def _own_database(url: str, worker: str) -> str:
    index = int(worker.removeprefix("gw"))
    match = re.fullmatch(r"(redis://[^/]+)(?:/(\d+))?", url)
    if not match or not index:
        return url
    return f"{match.group(1)}/{(int(match.group(2) or 0) + index) % 16}"


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _own_database(os.environ["REDIS_URL"], _worker)
