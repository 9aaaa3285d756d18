"""Blind indexes: searchable fingerprints of encrypted PHI.

HMAC-SHA256 of a value's normalised form under a key derived per organisation and per
kind, so equal phones in two organisations (or a phone and an e-mail) never collide.
"""

from __future__ import annotations

import hmac
import re
import unicodedata

import phonenumbers
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accounts import crypto

# Keep phonenumbers' compiled metadata patterns instead of leaning on the re module's bounded
# cache (measured: ~12% of parse + is_valid_number; bounded by the library's fixed metadata).
phonenumbers.enable_pattern_cache()
KINDS = ("phone", "email", "name")
_EXCEL_NUMBER = re.compile(r"\d+\.0")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_derived: dict[tuple[int, int, str], bytes] = {}


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number we can reach (message says why, without the number)."""


def _parse_valid(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalize_phone(raw: object, region: str) -> str:
    """E.164 form of a phone number written in any common format; national numbers use `region`.

    Excel hands phone cells over as numbers: the leading `+` or `0` is lost and a `.0` may
    trail. Such digit runs are read nationally first, then as international.
    """
    text = str(raw).strip() if raw is not None else ""
    if text.endswith(".0") and _EXCEL_NUMBER.fullmatch(text):
        text = text[:-2]
    if not text:
        raise InvalidPhoneNumber("The phone number is empty.")
    if text.startswith("00"):
        text = "+" + text[2:]
    region = region.upper()
    number = _parse_valid(text, region)
    if number is None and text.isdigit():
        number = _parse_valid("+" + text, region)
    if number is None:
        raise InvalidPhoneNumber("The phone number is not a valid number for its country.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def name_tokens(*parts: str | None) -> set[str]:
    """Lower-cased, accent-free name words of two letters or more ("Zoë-Ann" → zoe, ann)."""
    tokens: set[str] = set()
    for part in parts:
        if not part:
            continue
        folded = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode().lower()
        tokens.update(t for t in _NON_WORD.split(folded) if len(t) >= 2)
    return tokens


def _kind_key(organization_id: int, kind: str) -> bytes:
    base = crypto.primary_key(organization_id, "index")
    cache_key = (organization_id, base.key_id, kind)
    derived = _derived.get(cache_key)
    if derived is None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None,
            info=f"carerelay:blind-index:{kind}".encode(),
        ).derive(base.raw)
        _derived[cache_key] = derived
    return derived


def digest(organization_id: int, kind: str, normalized: str) -> str:
    """The blind index of an already normalised value."""
    if kind not in KINDS:
        raise ValueError(f"Unknown blind index kind: {kind}")
    return _hmac_hex(_kind_key(organization_id, kind), normalized)


def _hmac_hex(key: bytes, normalized: str) -> str:
    # hmac.digest is the one-shot C path: same HMAC-SHA256 as hmac.new(...).hexdigest(), cheaper.
    return hmac.digest(key, normalized.encode(), "sha256").hex()


def phone_index(organization_id: int, e164: str) -> str:
    return digest(organization_id, "phone", e164)


def email_index(organization_id: int, email: str) -> str:
    return digest(organization_id, "email", normalize_email(email))


def name_indexes(organization_id: int, *parts: str | None) -> set[str]:
    return {digest(organization_id, "name", token) for token in name_tokens(*parts)}


class Indexer:
    """One organisation's blind indexes with its keys derived once, for bulk paths (the importer).

    Same digests as the functions above. It pickles as its keys only, so the importer's worker
    processes can compute indexes without querying the database.
    """

    _CACHE = 50_000  # names repeat (common names): remember that many, then start over

    def __init__(self, keys: dict[str, bytes]):
        self._keys = keys
        self._names: dict[str, tuple[str, ...]] = {}

    def __getstate__(self) -> dict[str, bytes]:
        return self._keys

    def __setstate__(self, keys: dict[str, bytes]) -> None:
        self.__init__(keys)

    def same_keys(self, other: Indexer) -> bool:
        return self._keys == other._keys

    def phone(self, e164: str) -> str:
        return _hmac_hex(self._keys["phone"], e164)

    def email(self, email: str) -> str:
        return _hmac_hex(self._keys["email"], normalize_email(email))

    def names(self, *parts: str | None) -> set[str]:
        """name_indexes(...) of the parts."""
        digests: set[str] = set()
        for part in parts:
            if not part:
                continue
            found = self._names.get(part)
            if found is None:
                if len(self._names) >= self._CACHE:
                    self._names.clear()
                key = self._keys["name"]
                found = self._names[part] = tuple(_hmac_hex(key, t) for t in name_tokens(part))
            digests.update(found)
        return digests


def indexer_for(organization_id: int) -> Indexer:
    """An Indexer holding the organisation's current blind-index keys."""
    return Indexer({kind: _kind_key(organization_id, kind) for kind in KINDS})


def forget_derived_keys() -> None:
    _derived.clear()
