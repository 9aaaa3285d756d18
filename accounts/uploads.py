"""Uploads that never touch the disk in plaintext.

Django keeps an upload of up to FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) in memory and writes a
bigger one, as it arrives, to a plaintext temporary file (TemporaryFileUploadHandler) — a
patient list left readable on disk, and left behind if the process dies mid-upload.

``EncryptedFileUploadHandler`` takes that handler's place (settings.FILE_UPLOAD_HANDLERS):
the upload is sealed with AES-256-GCM as it streams, in chunks of CHUNK bytes, under a key made
for this one upload that lives only in the process's memory. Plaintext exists only in memory
(the chunk being sealed, the chunk being read back). A crash leaves ciphertext whose key died
with the process: unreadable by anyone (the sweeper deletes such leftovers). Each chunk is bound
to its position and to whether it is the last, so chunks cannot be reordered, dropped or cut.

The view reads the file as usual (``uploaded.chunks()``, ``read()``): chunks are decrypted one
at a time. There is deliberately no ``temporary_file_path()``: no plaintext path exists.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

CHUNK = 1 << 20  # plaintext bytes per sealed chunk
PREFIX = "carerelay-upload-"
SUFFIX = ".sealed"
_RECORD = struct.Struct(">IB")  # sealed length, final flag
_NONCE = 12


def upload_dir() -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())


class EncryptedSpool:
    """A temporary file written in sealed chunks under a key held only by this object."""

    def __init__(self, directory: Path | None = None):
        self._key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(self._key)
        directory = directory or upload_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=SUFFIX, dir=directory)  # mode 0600
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self._pending = bytearray()
        self._index = 0
        self.size = 0
        self.closed_for_writing = False

    def _aad(self, index: int, final: bool) -> bytes:
        return f"carerelay:upload:{index}:{int(final)}".encode()

    def _seal(self, data: bytes, final: bool) -> None:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, data, self._aad(self._index, final))
        self._file.write(_RECORD.pack(len(sealed), int(final)) + nonce + sealed)
        self._index += 1

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._pending += data
        while len(self._pending) >= CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), False)
            del self._pending[:CHUNK]

    def finish(self) -> None:
        """Seal what is left as the final chunk; the spool becomes readable."""
        self._seal(bytes(self._pending), True)
        self._pending = bytearray()
        self._file.flush()
        self.closed_for_writing = True

    def chunks(self) -> Iterator[bytes]:
        """The plaintext, chunk by chunk (each authenticated before it is returned)."""
        if not self.closed_for_writing:
            raise ValueError("The upload is not complete.")
        self._file.seek(0)
        index = 0
        while True:
            header = self._file.read(_RECORD.size)
            if len(header) < _RECORD.size:
                raise ValueError("The sealed upload is truncated.")
            length, final = _RECORD.unpack(header)
            nonce = self._file.read(_NONCE)
            sealed = self._file.read(length)
            try:
                data = self._aead.decrypt(nonce, sealed, self._aad(index, bool(final)))
            except InvalidTag:
                raise ValueError("The sealed upload did not authenticate.") from None
            index += 1
            if data:
                yield data
            if final:
                return

    def close(self) -> None:
        """Forget the key and delete the file."""
        self._key = b""
        self._aead = None
        try:
            self._file.close()
        finally:
            self.path.unlink(missing_ok=True)


class _PlaintextReader(io.RawIOBase):
    """read() over a spool's decrypted chunks (one chunk in memory at a time)."""

    def __init__(self, spool: EncryptedSpool):
        self._spool = spool
        self._chunks = spool.chunks()
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class _SpooledFile(io.BufferedReader):
    """The file object of an EncryptedUploadedFile: readable, rewindable, closes its spool."""

    def __init__(self, spool: EncryptedSpool):
        self.spool = spool
        super().__init__(_PlaintextReader(spool), buffer_size=CHUNK)

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise io.UnsupportedOperation("An encrypted upload can only be rewound.")
        self.__init__(self.spool)
        return 0

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.spool.close()
        super().close()


class EncryptedUploadedFile(UploadedFile):
    """An upload held encrypted on disk; its content is plaintext only while being read."""

    def __init__(self, spool: EncryptedSpool, name: str, content_type: str, size: int, charset,
                 content_type_extra=None):
        super().__init__(_SpooledFile(spool), name, content_type, size, charset, content_type_extra)
        self.spool = spool

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield from self.spool.chunks()

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        return True


class EncryptedFileUploadHandler(FileUploadHandler):
    """Streams every upload that is too big for memory into an EncryptedSpool (see the module)."""

    chunk_size = 256 * 1024

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.spool = EncryptedSpool()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.spool.write(raw_data)

    def file_complete(self, file_size: int) -> EncryptedUploadedFile:
        self.spool.finish()
        return EncryptedUploadedFile(self.spool, self.file_name, self.content_type, file_size, self.charset,
                                     self.content_type_extra)

    def upload_interrupted(self) -> None:
        spool = getattr(self, "spool", None)
        if spool is not None:
            spool.close()


def remove_stale_spools(older_than_seconds: int = 24 * 3600) -> int:
    """Delete spools left by processes that died mid-upload (ciphertext whose key is gone)."""
    removed = 0
    cutoff = time.time() - older_than_seconds
    for path in upload_dir().glob(f"{PREFIX}*{SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
