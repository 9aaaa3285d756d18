"""Envelope encryption of PHI with one data key per organisation.

Master keys (PHI_MASTER_KEYS, newest first) only wrap data keys. A data key encrypts an
organisation's PHI with AES-256-GCM. Ciphertext is text: ``crx1:<data key id>:<base64>``
so decryption always knows which key made it, and the associated data binds it to the
column it was written to (a value copied into another column does not decrypt).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

PREFIX = "crx1"
_NONCE = 12
# How long a process keeps an unwrapped key (to decrypt): other processes notice a destroyed key
# within this many seconds. A retired key is deleted only after this has passed.
_CACHE_SECONDS = 300
KEY_CACHE_LIFETIME_SECONDS = _CACHE_SECONDS
# How long a process keeps encrypting with the key it found primary before asking the database
# again: a key retired elsewhere is never used to encrypt longer than this after its retirement.
PRIMARY_RECHECK_SECONDS = 5
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# The cache's clock (a fake in tests): monotonic, so wall-clock jumps neither expire nor keep keys.
_clock = time.monotonic


class PHIKeyError(Exception):
    """A PHI key is missing, destroyed or wrong. Never carries plaintext or ciphertext."""


class Ciphertext(str):
    """A value already encrypted for the database (what encrypted fields accept on write)."""


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    aead: AESGCM


def _parse_master_key(encoded: str) -> MasterKey:
    try:
        # validate=True: a stray character is an error, not silently dropped (either alphabet).
        standard = encoded.strip().replace("-", "+").replace("_", "/").rstrip("=")
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except ValueError as exc:
        raise PHIKeyError("A PHI_MASTER_KEYS entry is not valid base64.") from exc
    if len(raw) != 32:
        raise PHIKeyError("Each PHI_MASTER_KEYS entry must decode to exactly 32 bytes.")
    return MasterKey(hashlib.sha256(raw).hexdigest()[:12], AESGCM(raw))


def key_ring_problems(configured) -> list[str]:
    """What is wrong with a PHI_MASTER_KEYS ring, in words an operator can act on (never a key).

    Empty when the ring is usable: at least one entry, each base64 of exactly 32 bytes, no repeats.
    """
    entries = [str(k).strip() for k in configured or () if str(k).strip()]
    if not entries:
        return ["PHI_MASTER_KEYS is empty: no key can unwrap organisation data keys."]
    problems, seen = [], set()
    for position, encoded in enumerate(entries, start=1):
        try:
            key = _parse_master_key(encoded)
        except PHIKeyError as error:
            problems.append(f"PHI_MASTER_KEYS entry {position}: {error}")
            continue
        if key.key_id in seen:
            problems.append(f"PHI_MASTER_KEYS entry {position} repeats an earlier key.")
        seen.add(key.key_id)
    return problems


def master_keys() -> list[MasterKey]:
    """The master key ring from settings, newest first (read every call: tests rotate it)."""
    configured = tuple(settings.PHI_MASTER_KEYS)
    if not configured:
        raise PHIKeyError("PHI_MASTER_KEYS is empty: no key can unwrap organisation data keys.")
    cached = _ring_cache.get(configured)
    if cached is None:
        cached = [_parse_master_key(k) for k in configured]
        _ring_cache.clear()
        _ring_cache[configured] = cached
    return cached


_ring_cache: dict[tuple[str, ...], list[MasterKey]] = {}


def generate_master_key() -> str:
    """A fresh master key in the PHI_MASTER_KEYS format."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _wrap_aad(organization_id: int, purpose: str) -> bytes:
    return f"carerelay:datakey:{organization_id}:{purpose}".encode()


def wrap_key(raw: bytes, organization_id: int, purpose: str) -> tuple[str, bytes]:
    """Wrap a data key with the newest master key; returns (master key id, blob)."""
    master = master_keys()[0]
    nonce = os.urandom(_NONCE)
    return master.key_id, nonce + master.aead.encrypt(nonce, raw, _wrap_aad(organization_id, purpose))


def unwrap_key(master_key_id: str, blob: bytes, organization_id: int, purpose: str) -> bytes:
    """Unwrap a data key with whichever master key wrapped it."""
    for master in master_keys():
        if master.key_id == master_key_id:
            try:
                return master.aead.decrypt(blob[:_NONCE], blob[_NONCE:], _wrap_aad(organization_id, purpose))
            except InvalidTag as exc:
                raise PHIKeyError(f"Master key {master_key_id} failed to unwrap a data key.") from exc
    raise PHIKeyError(
        f"Master key {master_key_id} is not in PHI_MASTER_KEYS: add it back to read this data."
    )


# --- Data keys ---------------------------------------------------------------------------------

@dataclass
class _Loaded:
    key_id: int
    organization_id: int
    raw: bytes
    loaded_at: float
    purpose: str = ""

    @property
    def aead(self) -> AESGCM:
        # Built once per loaded key: the hot path (bulk import) encrypts many values.
        cached = self.__dict__.get("_aead")
        if cached is None:
            cached = self.__dict__["_aead"] = AESGCM(self.raw)
        return cached


_lock = threading.Lock()
_by_id: dict[int, _Loaded] = {}
_primary: dict[tuple[int, str], int] = {}
# When each cached primary was last confirmed primary in the database (by _clock()).
_primary_checked: dict[tuple[int, str], float] = {}
# Keys this thread created in a transaction that has not committed yet. They are never put in
# the process-wide cache before commit: another thread must not encrypt with a key that a
# rollback could still erase (its data would be unreadable).
_thread = threading.local()


def _uncommitted() -> dict[int, tuple[object, _Loaded | None, bool]]:
    """key id -> (the outermost atomic block that created it, its loaded entry, loaded as primary)."""
    if not hasattr(_thread, "pending"):
        _thread.pending = {}
    return _thread.pending


def _pending_entry(organization_id: int, purpose: str) -> _Loaded | None:
    """This thread's not-yet-committed key, while its transaction is still the one open."""
    blocks = connection.atomic_blocks
    for block, entry, is_primary in _uncommitted().values():
        if (is_primary and entry is not None and blocks and blocks[0] is block
                and entry.organization_id == organization_id and entry.purpose == purpose):
            return entry
    return None


def _pending_by_id(key_id: int) -> _Loaded | None:
    block, entry, _ = _uncommitted().get(key_id, (None, None, False))
    blocks = connection.atomic_blocks
    return entry if entry is not None and blocks and blocks[0] is block else None


def forget_cached_keys() -> None:
    """Drop every unwrapped key from this process (after rotation or destruction)."""
    with _lock:
        _by_id.clear()
        _primary.clear()
        _primary_checked.clear()
    pending = _uncommitted()
    for key_id, (block, _entry, _primary_flag) in list(pending.items()):
        pending[key_id] = (block, None, False)  # still uncommitted: keep it out of the shared cache


def _fresh(entry: _Loaded | None) -> bool:
    return entry is not None and _clock() - entry.loaded_at < _CACHE_SECONDS


def _share(entry: _Loaded, purpose: str | None = None) -> None:
    with _lock:
        _by_id[entry.key_id] = entry
        if purpose is not None:
            _primary[(entry.organization_id, purpose)] = entry.key_id
            _primary_checked[(entry.organization_id, purpose)] = _clock()


def _load(data_key, *, primary: bool = False) -> _Loaded:
    raw = unwrap_key(data_key.master_key_id, bytes(data_key.wrapped_key), data_key.organization_id,
                     data_key.purpose)
    entry = _Loaded(data_key.pk, data_key.organization_id, raw, _clock(), data_key.purpose)
    pending = _uncommitted()
    if data_key.pk in pending:
        # Remember it for this transaction only; as the primary key only if loaded as such.
        block, _old, was_primary = pending[data_key.pk]
        pending[data_key.pk] = (block, entry, primary or was_primary)
    else:
        _share(entry, data_key.purpose if primary else None)
    return entry


def create_data_key(organization_id: int, purpose: str, *, primary: bool = True):
    """Create and store a new wrapped key for an organisation."""
    from accounts.models import DataKey

    master_id, blob = wrap_key(os.urandom(32), organization_id, purpose)
    data_key = DataKey.objects.create(
        organization_id=organization_id, purpose=purpose, is_primary=primary,
        master_key_id=master_id, wrapped_key=blob,
    )
    if connection.in_atomic_block:
        _hold_until_commit(data_key.pk, connection.atomic_blocks[0])
    return data_key


def primary_key(organization_id: int, purpose: str) -> _Loaded:
    """The organisation's current key for `purpose`, created on first use."""
    from accounts.models import DataKey, Organization

    slot = (organization_id, purpose)
    key_id = _primary.get(slot)
    entry = _by_id.get(key_id) if key_id else None
    if _fresh(entry) and _clock() - _primary_checked.get(slot, float("-inf")) < PRIMARY_RECHECK_SECONDS:
        return entry
    pending = _pending_entry(organization_id, purpose)
    if pending is not None:
        return pending
    # Which key is primary now? (A key retired by another process must stop encrypting here.)
    data_key = DataKey.objects.filter(
        organization_id=organization_id, purpose=purpose, is_primary=True, state=DataKey.State.ACTIVE
    ).first()
    if data_key is not None and _fresh(entry) and entry.key_id == data_key.pk:
        with _lock:
            _primary_checked[slot] = _clock()  # still primary: no unwrap needed
        return entry
    if data_key is None:
        org = Organization.objects.filter(pk=organization_id).only("keys_destroyed_at").first()
        if org is None or org.keys_destroyed_at:
            raise PHIKeyError(f"Organisation {organization_id} has no usable {purpose} key.")
        with transaction.atomic():
            # Lock the organisation row so two first writers don't both create a key: the
            # second waits until the first commits (or rolls back) and then sees its key.
            Organization.objects.select_for_update().filter(pk=organization_id).first()
            data_key = DataKey.objects.filter(
                organization_id=organization_id, purpose=purpose, is_primary=True,
                state=DataKey.State.ACTIVE,
            ).first()
            if data_key is None:
                data_key = create_data_key(organization_id, purpose)
    return _load(data_key, primary=True)


def _hold_until_commit(key_id: int, outer_block) -> None:
    """Keep a key made inside an open transaction out of the shared cache until it commits."""
    pending = _uncommitted()
    pending[key_id] = (outer_block, None, False)
    # After commit the key is durable: the next use loads and shares it. After a rollback the
    # pending entry is simply never matched again (its atomic block is gone).
    transaction.on_commit(lambda: pending.pop(key_id, None))


def key_by_id(key_id: int) -> _Loaded:
    """A data key by its id (as named in ciphertext)."""
    from accounts.models import DataKey

    entry = _by_id.get(key_id)
    if _fresh(entry):
        return entry
    entry = _pending_by_id(key_id)
    if entry is not None:
        return entry
    data_key = DataKey.objects.filter(pk=key_id).first()
    if data_key is None:
        raise PHIKeyError(
            f"Data key {key_id} does not exist (destroyed with its organisation?): "
            "this value cannot be decrypted."
        )
    return _load(data_key)


# --- Values ------------------------------------------------------------------------------------

def _token(aead: AESGCM, key_id: int, nonce: bytes, plaintext: str, context: str) -> str:
    """The one ciphertext format: crx1:<data key id>:<urlsafe base64 of nonce + sealed>."""
    sealed = aead.encrypt(nonce, plaintext.encode(), context.encode())
    token = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{PREFIX}:{key_id}:{token}"


def encrypt(plaintext: str, *, organization_id: int, context: str) -> Ciphertext:
    """Encrypt text for one organisation; `context` names the column (bound as associated data)."""
    key = primary_key(organization_id, "data")
    return Ciphertext(_token(key.aead, key.key_id, os.urandom(_NONCE), plaintext, context))


_forks = 0  # how many forks deep this process is: a Sealer's nonce pool belongs to one process


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


class Sealer:
    """Encrypts many values under one data key, for bulk writers (the contact importer).

    Same ciphertext as `encrypt`, minus its per-value costs: the key is looked up once and nonces
    are drawn from the OS in bulk. It pickles as its key only, so it can be handed to the
    importer's worker processes (which must not query the database for keys); a pool of nonces
    is never used in another process than the one that drew it — a forked copy would repeat
    nonces under the same key, which breaks AES-GCM; threads take turns at the pool.
    """

    _POOL = 256  # nonces drawn per os.urandom call

    def __init__(self, key_id: int, raw: bytes):
        self.key_id = key_id
        self._raw = raw
        self._aead = AESGCM(raw)
        self._nonces = b""
        self._next = 0
        self._forks = _forks
        self._lock = threading.Lock()

    def __getstate__(self) -> tuple[int, bytes]:
        return self.key_id, self._raw

    def __setstate__(self, state: tuple[int, bytes]) -> None:
        self.__init__(*state)

    def same_key(self, other: Sealer) -> bool:
        return (self.key_id, self._raw) == (other.key_id, other._raw)

    def _nonce(self) -> bytes:
        with self._lock:
            at = self._next
            if at >= len(self._nonces) or self._forks != _forks:
                self._nonces, at, self._forks = os.urandom(_NONCE * self._POOL), 0, _forks
            self._next = at + _NONCE
            return self._nonces[at:at + _NONCE]

    def seal(self, plaintext: str, context: str) -> str:
        """`encrypt(plaintext, context=context)` under this sealer's key, as plain text: wrap it in
        Ciphertext before handing it to an encrypted field (a COPY needs no wrapping; and plain
        strings cross process boundaries cheaper)."""
        return _token(self._aead, self.key_id, self._nonce(), plaintext, context)


def sealer_for(organization_id: int) -> Sealer:
    """A Sealer holding the organisation's current data key (created on first use)."""
    key = primary_key(organization_id, "data")
    return Sealer(key.key_id, key.raw)


def decrypt(token: str, *, context: str) -> str:
    """Decrypt a value written by `encrypt`; raises PHIKeyError rather than return a wrong value."""
    # Called once per encrypted value read (a page of 100 contacts: several hundred times), so the
    # key cache's fresh hit and base64 are inlined: what key_by_id and urlsafe_b64decode do, less
    # their frames, which were a third of a decryption.
    try:
        prefix, key_id, body = token.split(":", 2)
        if prefix != PREFIX:
            raise ValueError
        key_number = int(key_id)
        padded = (body + "=" * (-len(body) % 4)).encode("ascii")
        blob = binascii.a2b_base64(padded.translate(_URLSAFE_TO_STANDARD))
    except ValueError as exc:  # binascii.Error and a non-ASCII body's error are ValueErrors
        raise PHIKeyError("A PHI column holds a value that is not CareRelay ciphertext.") from exc
    key = _by_id.get(key_number)
    if not _fresh(key):
        key = key_by_id(key_number)
    try:
        return key.aead.decrypt(blob[:_NONCE], blob[_NONCE:], context.encode()).decode()
    except InvalidTag as exc:
        raise PHIKeyError(
            f"A value did not authenticate under data key {key_number} (tampered or moved?)."
        ) from exc


def key_id_of(token: str) -> int | None:
    """The data key id a ciphertext names, or None for anything else."""
    parts = token.split(":", 2) if token else []
    return int(parts[1]) if len(parts) == 3 and parts[0] == PREFIX and parts[1].isdigit() else None


def retire(data_key) -> None:
    """Make a key decrypt-only: it never encrypts again (other processes stop within
    PRIMARY_RECHECK_SECONDS) and still decrypts until it is purged."""
    data_key.is_primary = False
    data_key.state = data_key.State.DECRYPT_ONLY
    data_key.retired_at = timezone.now()
    data_key.save(update_fields=["is_primary", "state", "retired_at"])
    forget_cached_keys()
