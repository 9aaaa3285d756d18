"""Preparing chunks of rows for the writer: normalise, blind-index and encrypt each row.

This is the CPU-heavy part of an import, so it may run in worker processes
(contacts.importing.workers). It never touches the database: a chunk brings the keys it needs,
looked up by the process that owns the connection.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from accounts.blind_index import Indexer
from accounts.crypto import Sealer
from accounts.fields import encrypted_fields
from contacts.importing.normalising import CleanRow, Issue, RowNormaliser
from contacts.importing.reading import is_blank
from contacts.models import Contact


@dataclass(slots=True)
class RowChunk:
    """Consecutive rows of the file and the organisation's current keys."""

    first_row: int  # spreadsheet row number of rows[0] (the header is row 1)
    rows: list[list[str]]
    sealer: Sealer
    indexer: Indexer
    # Rows committed before the import was interrupted: wanted again only for their phones, so
    # that later rows repeating them are still reported as duplicates. Nothing gets encrypted.
    replay: bool = False


@dataclass(slots=True)
class PreparedChunk:
    """A chunk's outcome: clean rows ready to write, and the issues of the others."""

    processed: int
    blank: int
    failed: int
    clean: list[CleanRow]
    issues: list[Issue]
    replay: bool = False


class ChunkPreparer:
    """Turns RowChunks into PreparedChunks for one import (the same code in-process and in workers)."""

    def __init__(self, normaliser: RowNormaliser):
        self.normaliser = normaliser
        fields = {f.attname: f for f in encrypted_fields(Contact)}
        custom = fields.pop("custom_values")  # kept apart from the other values in a CleanRow
        # (attname, to_text, associated data) per encrypted column: what field.encrypt_for does.
        self._columns = [(name, f.to_text, f.crypto_context) for name, f in fields.items()]
        self._custom = (custom.to_text, custom.crypto_context)
        self._sealer: Sealer | None = None

    def __call__(self, chunk: RowChunk) -> PreparedChunk:
        sealer = self._keep(chunk)
        normalise = self.normaliser
        normalise.today = datetime.date.today()  # the upper bound for dates of birth
        blank = 0
        clean: list[CleanRow] = []
        issues: list[Issue] = []
        for offset, cells in enumerate(chunk.rows):
            if is_blank(cells):
                blank += 1
                continue
            result = normalise(chunk.first_row + offset, cells)
            if isinstance(result, list):
                issues += result
            else:
                if not chunk.replay:
                    self._seal(result, sealer)
                clean.append(result)
        failed = len(chunk.rows) - blank - len(clean)
        return PreparedChunk(len(chunk.rows), blank, failed, clean, issues, chunk.replay)

    def _keep(self, chunk: RowChunk) -> Sealer:
        # Keep this process's sealer and indexer while the keys are unchanged: their nonce pool
        # and name-digest cache then live across chunks.
        if self._sealer is None or not self._sealer.same_key(chunk.sealer):
            self._sealer = chunk.sealer
        current = self.normaliser.indexer
        if current is None or not current.same_keys(chunk.indexer):
            self.normaliser.indexer = chunk.indexer
        return self._sealer

    def _seal(self, row: CleanRow, sealer: Sealer) -> None:
        # Encrypted columns leave as ciphertext only: plaintext as well would double what crosses
        # back from a worker (the writer decrypts the few rows that update an existing contact).
        values = row.values
        sealed = row.sealed
        for name, to_text, context in self._columns:
            value = values.pop(name, None)
            if value is not None:
                sealed[name] = sealer.seal(to_text(value), context)
        if row.custom:
            to_text, context = self._custom
            sealed["custom_values"] = sealer.seal(to_text(row.custom), context)
            row.custom = {}
