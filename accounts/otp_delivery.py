"""The hook through which one-time sign-in codes leave CareRelay by SMS or WhatsApp.

accounts sits below messaging and never imports it. Messaging registers the real sender
from `messaging/apps.py` `ready()`:

    from accounts import otp_delivery
    otp_delivery.register_sender(send_sign_in_code)

where `send_sign_in_code(*, user, phone_number: str, token: str, method: str)` delivers the
code (method is "sms" or "whatsapp"). With no sender registered, SMS and WhatsApp are not
offered at set-up and a delivery attempt raises OTPDeliveryUnavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

METHODS = frozenset({"sms", "whatsapp"})


class OTPSender(Protocol):
    def __call__(self, *, user, phone_number: str, token: str, method: str) -> None: ...


class OTPDeliveryUnavailable(RuntimeError):
    """No messaging sender is registered, so a code cannot be sent by SMS or WhatsApp."""


_sender: OTPSender | None = None


def register_sender(fn: Callable[..., None]) -> None:
    """Register the function that delivers sign-in codes (the last registration wins)."""
    global _sender
    if not callable(fn):
        raise TypeError("register_sender() needs a callable")
    _sender = fn


def is_available() -> bool:
    """Whether codes can be sent by SMS/WhatsApp at all."""
    return _sender is not None


def deliver(*, user, phone_number: str, token: str, method: str) -> None:
    """Send `token` to `phone_number` by `method` ("sms" or "whatsapp") through the registered sender."""
    if method not in METHODS:
        raise ValueError(f"Unknown delivery method {method!r}; use 'sms' or 'whatsapp'.")
    if _sender is None:
        raise OTPDeliveryUnavailable(
            "No sender for sign-in codes is registered: the messaging app registers one with "
            "accounts.otp_delivery.register_sender() in its ready(). Use an authenticator app "
            "or a backup code meanwhile."
        )
    _sender(user=user, phone_number=phone_number, token=token, method=method)
