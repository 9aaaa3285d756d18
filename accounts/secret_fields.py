"""Second-factor secrets stored as a secrets store would keep them, not as django-otp does.

django-otp and django-two-factor-auth keep TOTP seeds and 2FA phone numbers in plain text and
backup codes unhashed. Their models stay (the libraries' views, forms and verification code
keep working unchanged); the columns' field classes are swapped at start-up
(`install()`, from AccountsConfig.ready) for ones that:

- seal TOTP seeds and phone numbers with AES-256-GCM under the newest PHI master key
  (`s1:<master key id>:<base64>`; a user is not a tenant row, so no organisation data key);
  the column lengths of the libraries' tables are kept (a 20-byte seed seals to 76 characters);
- store backup codes as a keyed hash (HMAC-SHA256 under SECRET_KEY, truncated to the column),
  so django-otp's `token_set.filter(token=typed)` matches the hash of what was typed.

The swapped classes deconstruct as the originals: no migration of the libraries' apps.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from django.db import models
from django.utils.crypto import salted_hmac
from phonenumber_field.modelfields import PhoneNumberField

from accounts import crypto

SEALED_PREFIX = "s1:"
HASHED_PREFIX = "h:"
_NONCE = 12
_MASTER_ID_CHARS = 8


def _aad(purpose: str) -> bytes:
    return f"carerelay:user-secret:{purpose}".encode()


def seal(raw: bytes, purpose: str) -> str:
    """Encrypt `raw` under the newest master key: `s1:<master id>:<urlsafe base64>`."""
    master = crypto.master_keys()[0]
    nonce = os.urandom(_NONCE)
    body = base64.urlsafe_b64encode(nonce + master.aead.encrypt(nonce, raw, _aad(purpose))).decode()
    return f"{SEALED_PREFIX}{master.key_id[:_MASTER_ID_CHARS]}:{body.rstrip('=')}"


def unseal(token: str, purpose: str) -> bytes:
    """Decrypt a value made by `seal`; raises PHIKeyError (never returns the ciphertext)."""
    try:
        _, master_id, body = token.split(":", 2)
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise crypto.PHIKeyError("A sealed second-factor secret is malformed.") from exc
    for master in crypto.master_keys():
        if master.key_id.startswith(master_id):
            try:
                return master.aead.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(purpose))
            except InvalidTag as exc:
                raise crypto.PHIKeyError("A second-factor secret did not authenticate.") from exc
    raise crypto.PHIKeyError(
        f"Master key {master_id}… is not in PHI_MASTER_KEYS: add it back to read second factors.")


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal_totp_key(hex_key: str) -> str:
    return seal(bytes.fromhex(hex_key), "totp-key")


def unseal_totp_key(token: str) -> str:
    return unseal(token, "totp-key").hex()


def seal_phone(e164: str) -> str:
    return seal(e164.encode(), "phone")


def unseal_phone(token: str) -> str:
    return unseal(token, "phone").decode()


class StoredHash(str):
    """A backup-code hash read from the database: saved back as it is, never hashed again."""


def hash_backup_code(code: str) -> str:
    digest = salted_hmac("accounts.backup-code", str(code), algorithm="sha256").hexdigest()
    return StoredHash(HASHED_PREFIX + digest[:14])  # the column holds 16 characters


# --- the swapped field classes ------------------------------------------------------------------

class SealedTOTPKeyField(models.CharField):
    """TOTPDevice.key: plain hex in Python, sealed in the database."""

    def from_db_value(self, value, expression, connection):
        return unseal_totp_key(value) if is_sealed(value) else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value or is_sealed(value):
            return value
        sealed = seal_totp_key(value)
        if len(sealed) > self.max_length:
            raise ValueError("A TOTP seed longer than 20 bytes does not fit its sealed column.")
        return sealed

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs


class SealedPhoneNumberField(PhoneNumberField):
    """PhoneDevice.number: a PhoneNumber in Python, sealed in the database."""

    def from_db_value(self, value, expression, connection):
        return super().from_db_value(unseal_phone(value) if is_sealed(value) else value,
                                     expression, connection)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return seal_phone(value) if value and not is_sealed(value) else value

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "phonenumber_field.modelfields.PhoneNumberField", args, kwargs


class HashedBackupCodeField(models.CharField):
    """StaticToken.token: what is typed is hashed (for storage and for look-ups alike)."""

    def from_db_value(self, value, expression, connection):
        return StoredHash(value) if value is not None else None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or isinstance(value, StoredHash):
            return value
        return hash_backup_code(value)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs


def install() -> None:
    """Swap the libraries' secret columns for the classes above (AccountsConfig.ready)."""
    from django_otp.plugins.otp_static.models import StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from two_factor.plugins.phonenumber.models import PhoneDevice

    for model, name, cls in ((TOTPDevice, "key", SealedTOTPKeyField),
                             (PhoneDevice, "number", SealedPhoneNumberField),
                             (StaticToken, "token", HashedBackupCodeField)):
        field = model._meta.get_field(name)
        if type(field) is not cls:
            field.__class__ = cls
