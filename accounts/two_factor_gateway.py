"""django-two-factor-auth's gateway (settings.TWO_FACTOR_SMS_GATEWAY), delegating to otp_delivery.

The gateway knows nothing about providers: it hands the code to whatever sender the
messaging layer registered, so with the simulator channel the code shows in the simulator.
"""

from __future__ import annotations

from accounts import otp_delivery
from accounts.two_factor_methods import WHATSAPP_CODE


class MessagingGateway:
    """Sends sign-in codes by SMS or WhatsApp through CareRelay's messaging layer."""

    def send_sms(self, device, token: str) -> None:
        """Deliver `token` to the device's number: by WhatsApp for WhatsApp devices, else by SMS."""
        method = "whatsapp" if device.method == WHATSAPP_CODE else "sms"
        otp_delivery.deliver(user=device.user, phone_number=device.number.as_e164, token=token,
                             method=method)

    def make_call(self, device, token: str) -> None:
        """Voice calls are not offered (no TWO_FACTOR_CALL_GATEWAY); refuse clearly if reached."""
        raise otp_delivery.OTPDeliveryUnavailable("CareRelay does not deliver sign-in codes by voice call.")
