"""Fresh identifiers shaped like each provider's."""

from __future__ import annotations

import base64
import os
import uuid


def twilio_sid(prefix: str = "SM") -> str:
    """A 34-character Twilio SID: two-letter prefix + 32 lower-case hex digits."""
    return prefix + uuid.uuid4().hex


def telnyx_id() -> str:
    """A Telnyx message or event id (UUID)."""
    return str(uuid.uuid4())


def wamid() -> str:
    """A WhatsApp message id (``wamid.`` + base64)."""
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + os.urandom(18)).decode()
