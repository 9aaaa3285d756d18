"""How many SMS segments a text costs (3GPP TS 23.038 / GSM 03.38 and UCS-2).

- GSM-7 when every character is in the GSM 03.38 default alphabet or its extension
  table; an extension character (``^{}\\[~]|€`` and form feed) takes two septets (escape +
  code). 160 septets fit in one SMS; a concatenated message carries 153 per part, and an
  escape pair is never split across parts.
- Otherwise UCS-2: 70 UTF-16 code units in one SMS, 67 per part. Characters outside the
  BMP (most emoji) take two units and a surrogate pair is never split across parts.
- The empty text is 0 segments (nothing would be sent), with a whole SMS remaining.

``gsm7_tables()`` exports the character sets so the browser's live counter applies
exactly the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet in code order 0x00-0x7F, without 0x1B (the escape to the
# extension table, not a character). 0x09 is "Ç" per the Unicode mapping GSM0338.TXT.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs the escape septet plus its own.
GSM7_EXTENSION = "\f^{}\\[~]|€"

SEGMENT_LIMITS = {
    GSM7: {"single": 160, "multipart": 153},
    UCS2: {"single": 70, "multipart": 67},
}

_EXTENSION = frozenset(GSM7_EXTENSION)
# One C-level scan instead of a Python loop per character: every outbound message is counted.
_NOT_GSM7 = re.compile(f"[^{re.escape(GSM7_BASIC + GSM7_EXTENSION)}]")


class Gsm7Tables(NamedTuple):
    """The GSM-7 character sets, as strings (JSON-friendly via ``_asdict()``)."""

    basic: str
    extension: str


@dataclass(frozen=True)
class SegmentInfo:
    """The cost of one text.

    ``units`` are septets (GSM-7) or UTF-16 code units (UCS-2); ``characters`` counts
    what a person sees as characters (code points); ``remaining`` is how many more units
    fit in the current (last) segment; ``unit_limit`` that segment's capacity.
    """

    encoding: str
    segments: int
    characters: int
    units: int
    remaining: int
    unit_limit: int


def gsm7_tables() -> Gsm7Tables:
    """The GSM-7 basic and extension character sets shared with the browser counter."""
    return Gsm7Tables(basic=GSM7_BASIC, extension=GSM7_EXTENSION)


def is_gsm7(text: str) -> bool:
    """True if ``text`` can be sent in GSM-7 (basic alphabet + extension table)."""
    return _NOT_GSM7.search(text) is None


def _unit_costs(text: str, encoding: str) -> list[int]:
    """Units each character costs; kept per character so parts split between them."""
    if encoding == GSM7:
        return [2 if char in _EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def count_segments(text: str) -> SegmentInfo:
    """Count encoding, segments and remaining room for ``text`` (see module docstring)."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    limits = SEGMENT_LIMITS[encoding]
    if encoding == GSM7:
        units = len(text) + sum(text.count(char) for char in GSM7_EXTENSION)
    else:
        units = len(text.encode("utf-16-le")) // 2
    if units <= limits["single"]:
        segments = 1 if text else 0
        return SegmentInfo(encoding, segments, len(text), units, limits["single"] - units, limits["single"])
    # Fill parts greedily; a character that does not fit whole starts the next part.
    capacity = limits["multipart"]
    segments, used = 1, 0
    for cost in _unit_costs(text, encoding):
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding, segments, len(text), units, capacity - used, capacity)
