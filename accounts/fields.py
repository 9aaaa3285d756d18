"""Encrypted model fields for PHI, keyed per organisation (see accounts.crypto).

The model instance carries plaintext; the column carries ciphertext. Values are
encrypted in `pre_save` (which knows the row's organisation) and decrypted on load.
Anything that would send plaintext to the database another way — a filter, an
`update()`, a `bulk_update` of plaintext — raises instead: search through blind indexes.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core import checks
from django.db import models

from accounts import crypto


class EncryptedFieldMisuse(TypeError):
    """Plaintext was about to reach an encrypted column by a path that cannot encrypt it."""


class EncryptedMixin:
    """Shared behaviour: subclasses convert python values to and from text."""

    encrypted = True

    def __init__(self, *args, organization_field: str = "organization", **kwargs):
        self.organization_field = organization_field
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.organization_field != "organization":
            kwargs["organization_field"] = self.organization_field
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        # The column is text whatever the python type: it holds ciphertext.
        return "TextField"

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.unique or self.db_index:
            errors.append(checks.Error(
                "Encrypted fields cannot be unique or indexed; add a blind index column.",
                obj=self, id="accounts.E001",
            ))
        return errors

    # --- conversions implemented by subclasses -------------------------------------------------
    def to_text(self, value: Any) -> str:
        return str(value)

    def from_text(self, text: str) -> Any:
        return text

    # --- encryption ----------------------------------------------------------------------------
    @property
    def crypto_context(self) -> str:
        return f"{self.model._meta.label_lower}.{self.attname}"

    def encrypt_for(self, instance: models.Model, value: Any) -> crypto.Ciphertext | None:
        """Ciphertext of `value` under the instance's organisation key."""
        if value is None:
            return None
        organization_id = getattr(instance, f"{self.organization_field}_id")
        if organization_id is None:
            raise EncryptedFieldMisuse(
                f"{self.model.__name__} needs its organisation set before PHI can be encrypted."
            )
        return crypto.encrypt(self.to_text(value), organization_id=organization_id,
                              context=self.crypto_context)

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if isinstance(value, crypto.Ciphertext):
            return value
        return self.encrypt_for(model_instance, value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or isinstance(value, crypto.Ciphertext):
            return value
        raise EncryptedFieldMisuse(
            f"{self.model.__name__}.{self.name} is encrypted: it cannot be filtered or updated in "
            "bulk with plaintext. Search through its blind index; write through save()."
        )

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.from_text(crypto.decrypt(value, context=self.crypto_context))


class EncryptedTextField(EncryptedMixin, models.TextField):
    """Free text (message bodies, notes)."""


class EncryptedCharField(EncryptedMixin, models.CharField):
    """Short text; max_length applies to the plaintext (the column is unbounded text)."""


class EncryptedDateField(EncryptedMixin, models.DateField):
    """A date (e.g. date of birth), stored as encrypted ISO text."""

    def to_text(self, value: Any) -> str:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, str):
            value = datetime.date.fromisoformat(value)
        return value.isoformat()

    def from_text(self, text: str) -> datetime.date:
        return datetime.date.fromisoformat(text)


# What json.dumps(value, separators=(",", ":"), default=str) does, without building an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class EncryptedJSONField(EncryptedMixin, models.JSONField):
    """Structured PHI (custom field values, intake answers), stored as encrypted JSON text."""

    def to_text(self, value: Any) -> str:
        return _COMPACT_JSON.encode(value)

    def from_text(self, text: str) -> Any:
        return json.loads(text)

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "as_sql"):
            # bulk_update's CASE expression of already-encrypted values; its Values still pass
            # through get_db_prep_value, which refuses plaintext.
            return value
        return self.get_db_prep_value(value, connection)


def encrypted_fields(model: type[models.Model]) -> list[models.Field]:
    """The encrypted fields of a model (used by key rotation and the tenancy guard)."""
    return [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]
