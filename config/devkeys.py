"""Development keys for the embedded mode, generated once into an ignored file.

Production never reaches this module: settings refuse to start there without real keys.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path


def load_or_create(path: Path) -> dict[str, str]:
    """Read the development keys file, creating it (mode 0600) with fresh keys on first use."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {
        "SECRET_KEY": "dev-" + secrets.token_urlsafe(48),
        "PHI_MASTER_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    # Exclusive create: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text(encoding="utf-8"))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keys, handle, indent=2)
    return keys
