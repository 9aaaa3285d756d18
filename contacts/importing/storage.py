"""Uploaded import files at rest: encrypted in chunks under the organisation's data key.

The file is PHI, so it never sits on disk in plaintext: MEDIA_ROOT/imports/<org>/<uuid>.bin
holds AES-GCM chunks of 1 MiB, each bound (associated data) to the job, its index and whether
it is the last, so chunks cannot be reordered, dropped or truncated unnoticed. Reading streams
back through `open_upload`, one chunk in memory at a time.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from accounts import crypto

MAGIC = b"CRIMP1\n"
CHUNK = 1 << 20
_HEADER = struct.Struct(">IB")  # ciphertext length, final flag


def import_dir(organization_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / str(organization_id)


def upload_path(organization_id: int, job_uuid) -> Path:
    return import_dir(organization_id) / f"{job_uuid}.bin"


def errors_path(organization_id: int, job_uuid) -> Path:
    return import_dir(organization_id) / f"{job_uuid}.errors.csv"


def _aad(job_uuid, index: int, final: bool) -> bytes:
    return f"carerelay:import:{job_uuid}:{index}:{int(final)}".encode()


def _private_open(path: Path, mode: str):
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, mode)


def store_upload(*, organization_id: int, job_uuid, chunks: Iterable[bytes]) -> int:
    """Encrypt an upload onto disk chunk by chunk; returns its plaintext size in bytes."""
    key = crypto.primary_key(organization_id, "data")
    size, index = 0, 0
    with _private_open(upload_path(organization_id, job_uuid), "wb") as out:
        out.write(MAGIC + struct.pack(">Q", key.key_id))
        pending = bytearray()

        def flush(data: bytes, final: bool) -> None:
            nonlocal index
            nonce = os.urandom(12)
            sealed = key.aead.encrypt(nonce, data, _aad(job_uuid, index, final))
            out.write(_HEADER.pack(len(sealed), int(final)) + nonce + sealed)
            index += 1

        for chunk in chunks:
            size += len(chunk)
            pending += chunk
            while len(pending) >= CHUNK:
                flush(bytes(pending[:CHUNK]), False)
                del pending[:CHUNK]
        flush(bytes(pending), True)
    return size


class _DecryptingReader(io.RawIOBase):
    def __init__(self, path: Path, job_uuid):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        if self._file.read(len(MAGIC)) != MAGIC:
            raise crypto.PHIKeyError("The stored import file is not in the expected format.")
        (key_id,) = struct.unpack(">Q", self._file.read(8))
        self._aead = crypto.key_by_id(key_id).aead
        self._job_uuid = job_uuid
        self._index = 0
        self._buffer = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        header = self._file.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise crypto.PHIKeyError("The stored import file is truncated.")
        length, final = _HEADER.unpack(header)
        nonce = self._file.read(12)
        sealed = self._file.read(length)
        try:
            aad = _aad(self._job_uuid, self._index, bool(final))
            self._buffer = memoryview(self._aead.decrypt(nonce, sealed, aad))
        except Exception as exc:
            raise crypto.PHIKeyError("The stored import file did not authenticate.") from exc
        self._index += 1
        self._done = bool(final)

    def readinto(self, target) -> int:
        while not self._buffer and not self._done:
            self._next_chunk()
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def open_upload(organization_id: int, job_uuid) -> io.BufferedReader:
    """A binary stream of the decrypted upload (close it when done)."""
    return io.BufferedReader(_DecryptingReader(upload_path(organization_id, job_uuid), job_uuid),
                             buffer_size=CHUNK)


def delete_upload(organization_id: int, job_uuid) -> None:
    upload_path(organization_id, job_uuid).unlink(missing_ok=True)
