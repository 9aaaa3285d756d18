"""What a provider backend declares about itself, so nothing else needs to know its name.

Each backend class carries one ``ProviderDeclaration``: its display name, the channel kinds it
serves (each with the rule its sender address follows), the credentials its set-up form asks
for (which are secret, which one webhooks are verified with, how each is checked), the
webhook URLs to paste into its console and the set-up steps shown beside them. The channel
forms, the channel services, the channel pages and the admin read this; adding a provider is
adding one module that declares all of it.

Like the rest of ``messaging.providers`` this module does not import Django: a rule that
refuses a value raises ``InvalidValue`` with a message a person can act on, and the form or
service turns it into its own error type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers

__all__ = [
    "SMS",
    "WHATSAPP",
    "AddressRule",
    "CredentialField",
    "InvalidValue",
    "KindOption",
    "ProviderDeclaration",
    "WebhookUrlSpec",
    "e164_or_prefixed_id",
    "e164_phone",
    "numeric_id",
    "pattern",
]

# Channel kinds: what the patient sees the channel as (consent, keywords and the WhatsApp
# 24-hour window follow the kind). Values match messaging.models.Channel.Kind.
SMS = "sms"
WHATSAPP = "whatsapp"


class InvalidValue(ValueError):
    """A value a person typed does not follow a provider's rule. The message says what to do."""


Normaliser = Callable[[str], str]


@dataclass(frozen=True)
class AddressRule:
    """How a channel's sender address is labelled, explained and normalised.

    ``normalise`` returns the stored form (E.164 for phones) or raises ``InvalidValue``.
    """

    label: str
    help_text: str
    normalise: Normaliser
    placeholder: str = ""

    def clean(self, raw: str) -> str:
        """The address as stored, or ``InvalidValue``."""
        value = (raw or "").strip()
        if not value:
            raise InvalidValue(f"Enter the {self.label.lower()}.")
        return self.normalise(value)


@dataclass(frozen=True)
class KindOption:
    """One kind of channel a provider serves (e.g. Twilio: SMS/MMS, or WhatsApp through Twilio)."""

    kind: str
    label: str
    address: AddressRule
    # Steps shown on the set-up pages for a channel of this kind (after the provider's own).
    instructions: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialField:
    """One credential the set-up form asks for.

    ``secret`` fields are write-only: never rendered back, blank on an edit keeps what is stored.
    ``verifies_webhooks`` marks the value webhook signatures are checked with; it is also kept
    in the channel's encrypted ``webhook_secret`` column. ``validate`` returns the value to
    store or raises ``InvalidValue``.
    """

    key: str
    label: str
    secret: bool
    help_text: str = ""
    required: bool = True
    verifies_webhooks: bool = False
    validate: Normaliser | None = None

    def clean(self, raw: str) -> str:
        """The value to store ("" when optional and blank), or ``InvalidValue``."""
        value = (raw or "").strip()
        if not value:
            return ""
        return self.validate(value) if self.validate is not None else value


@dataclass(frozen=True)
class WebhookUrlSpec:
    """A webhook URL the provider's console needs: what it is for and where to paste it.

    ``purposes`` name what arrives there (``inbound``, ``status``); a channel has one webhook
    URL that takes both, so each spec only changes the label and the note.
    """

    label: str
    note: str = ""
    purposes: tuple[str, ...] = ("inbound", "status")


@dataclass(frozen=True)
class ProviderDeclaration:
    """Everything the product needs to know about one provider, declared by its backend."""

    label: str
    kinds: tuple[KindOption, ...]
    credentials: tuple[CredentialField, ...] = ()
    webhook_urls: tuple[WebhookUrlSpec, ...] = ()
    # Steps shown on the set-up pages, before the kind's own.
    instructions: tuple[str, ...] = ()
    summary: str = ""
    # CareRelay makes the webhook secret itself (nothing to paste): it can also rotate it.
    generates_webhook_secret: bool = False
    # The Simulator page plays the patient on channels of this provider (nothing leaves CareRelay).
    plays_patient_in_browser: bool = False
    # The provider a fresh installation starts with (exactly one declares it).
    embedded_default: bool = False
    # Position in "add a channel" lists (lower first), then the label.
    order: int = 100

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("a provider serves at least one channel kind")
        kinds = [option.kind for option in self.kinds]
        if len(set(kinds)) != len(kinds):
            raise ValueError("a provider declares each channel kind once")

    @property
    def kind_values(self) -> tuple[str, ...]:
        """The kinds served, in declaration order (the first is the default)."""
        return tuple(option.kind for option in self.kinds)

    def kind_option(self, kind: str | None) -> KindOption:
        """The declared option for ``kind`` (the first one for None); ``InvalidValue`` if not served."""
        if kind is None or kind == "":
            return self.kinds[0]
        for option in self.kinds:
            if option.kind == kind:
                return option
        raise InvalidValue(f"{self.label} does not serve that kind of channel: choose one it offers.")

    @property
    def secret_credentials(self) -> frozenset[str]:
        """Keys of the write-only credentials."""
        return frozenset(f.key for f in self.credentials if f.secret)

    def credential(self, key: str) -> CredentialField | None:
        """The declared credential ``key``, or None."""
        return next((f for f in self.credentials if f.key == key), None)

    def instructions_for(self, kind: str | None) -> tuple[str, ...]:
        """The provider's set-up steps followed by those of ``kind``."""
        try:
            option = self.kind_option(kind)
        except InvalidValue:
            return self.instructions
        return self.instructions + option.instructions


# --------------------------------------------------------------------------- address rules
def e164_phone(raw: str) -> str:
    """A phone number in international format, returned as E.164; ``InvalidValue`` otherwise."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise InvalidValue("Enter the number in international format, e.g. +14155550100.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue("That is not a valid phone number: check it and use international format, +1….")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def e164_or_prefixed_id(prefix: str, length: int) -> Normaliser:
    """E.164, or an id of ``length`` characters starting with ``prefix`` (e.g. Twilio's ``MG…``)."""
    shape = re.compile(rf"^{re.escape(prefix)}[0-9a-fA-F]{{{length - len(prefix)}}}$")

    def normalise(raw: str) -> str:
        if raw.startswith(prefix):
            if not shape.match(raw):
                raise InvalidValue(f"A {prefix}… id has {length} characters: copy it from the console.")
            return raw
        return e164_phone(raw)

    return normalise


def numeric_id(what: str) -> Normaliser:
    """Digits only (e.g. Meta's phone-number id), else ``InvalidValue`` naming ``what``."""

    def normalise(raw: str) -> str:
        if not raw.isdigit():
            raise InvalidValue(f"The {what} is the numeric id from the provider's console, not the number.")
        return raw

    return normalise


def pattern(regex: str, message: str) -> Normaliser:
    """A value that must match ``regex`` in full; ``message`` says what to paste instead."""
    compiled = re.compile(regex)

    def normalise(raw: str) -> str:
        if not compiled.fullmatch(raw):
            raise InvalidValue(message)
        return raw

    return normalise
