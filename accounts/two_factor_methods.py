"""WhatsApp as a two-factor method, on the phone-number plugin's PhoneDevice.

PhoneDevice.method is a 4-character column, so WhatsApp devices store "wa"; the gateway
sends their codes with method="whatsapp".
"""

from __future__ import annotations

from two_factor.plugins.phonenumber.method import PhoneMethodBase
from two_factor.plugins.registry import registry

WHATSAPP_CODE = "wa"
PHONE_CODES = frozenset({"sms", "call", WHATSAPP_CODE})


class WhatsAppMethod(PhoneMethodBase):
    code = WHATSAPP_CODE
    verbose_name = "WhatsApp message"
    action = "Send a WhatsApp message to %s"
    verbose_action = "We sent you a WhatsApp message: enter the code it contains."


def register_methods() -> None:
    """Offer WhatsApp alongside the plugin's SMS method (called from AccountsConfig.ready)."""
    registry.register(WhatsAppMethod())


def offered_methods() -> list:
    """The methods a person may choose now: phone methods only while a sender is registered."""
    from accounts import otp_delivery

    methods = [m for m in registry.get_methods() if m.code != "call"]
    if not otp_delivery.is_available():
        methods = [m for m in methods if m.code not in PHONE_CODES]
    return methods
