"""One canonical form of an e-mail address, for storage, look-up and lockout alike.

Before, storage lower-cased with Python, sign-in matched with the database's UPPER() and the
lockout keyed on Python's lower(): a dotless i (U+0131) or a fullwidth a (U+FF41) reached the same account
through the database and yet counted in another lockout bucket. Every path now calls
`canonical_email`, and look-ups compare canonical values exactly.
"""

from __future__ import annotations

import unicodedata


def canonical_email(value: str | None) -> str:
    """NFKC, then case-folded; then folded once more through upper case, so letters that a
    database's UPPER() equates with ASCII (dotless i U+0131 → I, long s U+017F → S) fold the same way.

    Idempotent: canonical_email(canonical_email(x)) == canonical_email(x).
    """
    text = unicodedata.normalize("NFKC", str(value or "").strip()).casefold()
    return unicodedata.normalize("NFKC", text.upper().casefold())
